"""kubelet configuration (KH-KUB-NNN): KubeletConfiguration files and kubelet flags.

Defaults differ by source and are applied exactly: a ``KubeletConfiguration`` (kubelet.config.k8s.io/v1beta1)
defaults to anonymous auth off, Webhook authorization and read-only port 0, while the bare command-line
defaults are anonymous auth on, AlwaysAllow and port 10255.  Flags override the config file; a
``KubeletFlags`` object that also passes ``--config`` leaves unset settings to the file, which is judged
on its own.  CIS cross-references are to CIS Kubernetes Benchmark v1.8.0 section 4.2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubehipaa.checks.apiserver import STRONG_CIPHERS, TLS_VERSIONS, not_assessed
from kubehipaa.checks.registry import Hit, check
from kubehipaa.engines.controlplane import ParsedFlags, parse_bool, parse_go_duration, parse_int
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity

AREA = "kubelet"
_MISSING = object()


@dataclass(slots=True)
class Setting:
    """A resolved kubelet setting: effective value, where it is (or would be) set, and if explicit."""

    value: Any
    path: str
    explicit: bool


@dataclass(slots=True)
class Kubelet:
    obj: K8sObject
    flags: ParsedFlags | None

    @property
    def defers_to_file(self) -> bool:
        return self.flags is not None and self.flags.has("config")

    def setting(self, field_path: str, flag: str, file_default: Any, flag_default: Any) -> Setting | None:
        """Value of a setting; None when a flags object leaves it to the config file."""
        if self.flags is None:
            node: Any = self.obj.doc
            for part in field_path.split("."):
                node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
                if node is _MISSING:
                    return Setting(file_default, field_path, False)
            return Setting(node, field_path, True)
        f = self.flags.flag(flag)
        if f is not None:
            return Setting(f.value, f"spec.args[{f.index}]", True)
        if self.defers_to_file:
            return None
        return Setting(flag_default, f"spec.args (--{flag} not set)", False)

    def hit(self, s: Setting, message: str, *, severity: Severity | None = None) -> Hit:
        shown = s.value if s.explicit else f"{s.value} (default)"
        return Hit(self.obj, message, path=s.path, value=shown, severity=severity)


def kubelets(inv: Inventory) -> list[Kubelet]:
    """KubeletConfiguration files, then kubelet flags files (`inv.control_plane`)."""
    cp = inv.control_plane
    return [*(Kubelet(o, None) for o in cp.kubelet_configs), *(Kubelet(i.obj, i.flags) for i in cp.kubelet_flags)]


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return parse_bool(str(value))


@check(
    id="KH-KUB-001",
    title="kubelet allows anonymous requests",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(d)", "164.312(a)(1)"),
    cis=("4.2.1",),
    scope="control-plane",
    remediation="Set authentication.anonymous.enabled: false (or --anonymous-auth=false).",
    description="The kubelet API can exec into containers and read logs of PHI workloads; anonymous "
    "requests to it are unattributable.",
)
def anonymous(inv: Inventory) -> Iterator[Hit]:
    for k in kubelets(inv):
        s = k.setting("authentication.anonymous.enabled", "anonymous-auth", False, True)
        if s is not None and _as_bool(s.value) is not False:
            yield k.hit(s, "anonymous requests to the kubelet API are allowed")


@check(
    id="KH-KUB-002",
    title="kubelet authorization mode is AlwaysAllow",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(a)(1)",),
    cis=("4.2.2",),
    scope="control-plane",
    remediation="Set authorization.mode: Webhook (or --authorization-mode=Webhook).",
    description="With AlwaysAllow any authenticated client may exec into any container on the node.",
)
def authorization(inv: Inventory) -> Iterator[Hit]:
    for k in kubelets(inv):
        s = k.setting("authorization.mode", "authorization-mode", "Webhook", "AlwaysAllow")
        if s is not None and str(s.value) != "Webhook":
            yield k.hit(s, f"kubelet authorization mode is {s.value}, not Webhook")


@check(
    id="KH-KUB-003",
    title="kubelet read-only port is open",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    cis=("4.2.4",),
    scope="control-plane",
    remediation="Set readOnlyPort: 0 (or --read-only-port=0).",
    description="The read-only port serves pod specs (env vars may hold PHI or credentials) without "
    "authentication or TLS.",
)
def read_only_port(inv: Inventory) -> Iterator[Hit]:
    for k in kubelets(inv):
        s = k.setting("readOnlyPort", "read-only-port", 0, 10255)
        if s is not None and parse_int(str(s.value)) != 0:
            yield k.hit(s, f"unauthenticated read-only port {s.value} is open")


@check(
    id="KH-KUB-004",
    title="kubelet certificate rotation disabled",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(e)(1)", "164.312(d)"),
    cis=("4.2.10", "4.2.11"),
    scope="control-plane",
    remediation="Set rotateCertificates: true and serverTLSBootstrap: true (approve kubelet serving CSRs), "
    "or provide tlsCertFile/tlsPrivateKeyFile managed by your PKI.",
    description="Without rotation, kubelet credentials expire (outage) or are replaced by long-lived ones; "
    "without a CA-issued serving certificate the API server cannot verify the kubelet.",
)
def cert_rotation(inv: Inventory) -> Iterator[Hit]:
    for k in kubelets(inv):
        s = k.setting("rotateCertificates", "rotate-certificates", False, False)
        if s is not None and _as_bool(s.value) is not True:
            yield k.hit(s, "client certificate rotation is disabled")
        srv = k.setting("serverTLSBootstrap", "rotate-server-certificates", False, False)
        cert = k.setting("tlsCertFile", "tls-cert-file", None, None)
        if srv is not None and _as_bool(srv.value) is not True and (cert is None or not cert.value):
            yield k.hit(
                srv,
                "serving certificate is self-signed (no serverTLSBootstrap and no tlsCertFile)",
                severity=Severity.LOW,
            )


@check(
    id="KH-KUB-005",
    title="kubelet streaming connection idle timeout disabled or long",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(a)(2)(iii)",),
    cis=("4.2.5",),
    scope="control-plane",
    remediation="Set streamingConnectionIdleTimeout to 4h or less (e.g. 5m), never 0.",
    description="Idle exec/attach/port-forward sessions stay open forever with 0 - the node-level "
    "equivalent of automatic logoff (164.312(a)(2)(iii)).",
)
def streaming_timeout(inv: Inventory) -> Iterator[Hit]:
    for k in kubelets(inv):
        s = k.setting(
            "streamingConnectionIdleTimeout", "streaming-connection-idle-timeout", "4h0m0s", "4h0m0s"
        )
        if s is None:
            continue
        seconds = parse_go_duration(str(s.value))
        if seconds is None:
            yield k.hit(s, f"invalid duration {s.value!r}")
        elif seconds == 0:
            yield k.hit(s, "idle streaming connections never time out")
        elif seconds > 4 * 3600:
            yield k.hit(s, f"idle streaming connections live {s.value} (more than 4h)", severity=Severity.LOW)


@check(
    id="KH-KUB-006",
    title="kubelet does not protect kernel defaults",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(c)(1)",),
    cis=("4.2.6",),
    scope="control-plane",
    remediation="Set protectKernelDefaults: true (and tune sysctls on the node, not from the kubelet).",
    description="When false the kubelet silently changes kernel tunables instead of failing. CIS number from "
    "benchmark v1.7 (the recommendation was dropped in v1.8).",
)
def protect_kernel(inv: Inventory) -> Iterator[Hit]:
    for k in kubelets(inv):
        s = k.setting("protectKernelDefaults", "protect-kernel-defaults", False, False)
        if s is not None and _as_bool(s.value) is not True:
            yield k.hit(s, "protectKernelDefaults is false")


@check(
    id="KH-KUB-007",
    title="kubelet cannot authenticate clients by certificate",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(d)",),
    cis=("4.2.3",),
    scope="control-plane",
    remediation="Set authentication.x509.clientCAFile (or --client-ca-file) to the cluster CA.",
    description="Without a client CA the kubelet cannot verify that a caller (the API server) is who it "
    "claims to be.",
)
def client_ca(inv: Inventory) -> Iterator[Hit]:
    for k in kubelets(inv):
        s = k.setting("authentication.x509.clientCAFile", "client-ca-file", None, None)
        if s is not None and not s.value:
            yield k.hit(s, "no client CA file configured")


@check(
    id="KH-KUB-008",
    title="kubelet TLS allows weak versions or cipher suites",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    cis=("4.2.12",),
    scope="control-plane",
    remediation="Set tlsMinVersion: VersionTLS12 and tlsCipherSuites to ECDHE + AES-GCM/ChaCha20 suites.",
    description="The kubelet API carries exec sessions and logs; it should negotiate only strong TLS.",
)
def kubelet_tls(inv: Inventory) -> Iterator[Hit]:
    for k in kubelets(inv):
        v = k.setting("tlsMinVersion", "tls-min-version", None, None)
        if v is not None and v.value and TLS_VERSIONS.get(str(v.value), 0) < 12:
            yield k.hit(v, f"TLS minimum version {v.value} is below TLS 1.2", severity=Severity.MEDIUM)
        c = k.setting("tlsCipherSuites", "tls-cipher-suites", None, None)
        if c is None:
            continue
        suites = c.value if isinstance(c.value, list) else [x for x in str(c.value or "").split(",") if x]
        if not suites:
            yield k.hit(c, "cipher suites are not restricted (Go defaults apply)")
            continue
        weak = [str(x) for x in suites if str(x) not in STRONG_CIPHERS]
        if weak:
            yield k.hit(c, f"weak cipher suites allowed: {', '.join(weak)}", severity=Severity.MEDIUM)


@check(
    id="KH-KUB-009",
    title="kubelet configuration not assessed",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(a)(1)", "164.312(d)"),
    scope="control-plane",
    remediation="Provide a node's kubelet config or flags with --kubelet-config, or keep the listed provider "
    "evidence with your HIPAA documentation.",
    description="A control-plane scan was requested but no kubelet configuration was visible. Reported "
    "instead of a silent pass.",
)
def kubelet_not_assessed(inv: Inventory) -> Iterator[Hit]:
    yield from not_assessed(inv, "kubelet", "kubelet configuration")
