"""kube-apiserver flags (KH-API-NNN), from the static Pod manifest or a flags file.

Each check cross-references the CIS Kubernetes Benchmark v1.8.0 recommendation it corresponds to (section
1.2, "API Server"); checks without a CIS counterpart say so in their description.  Defaults matter: a flag
that is absent takes kube-apiserver's built-in default (``--anonymous-auth`` true, ``--authorization-mode``
AlwaysAllow, ``--profiling`` true, ``--service-account-lookup`` true), and the checks judge that default.

This module also holds the "not assessed (managed control plane)" logic shared by the control-plane areas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kubehipaa.checks.registry import Hit, check
from kubehipaa.engines.controlplane import (
    APISERVER,
    ETCD,
    Flag,
    Invocation,
    ParsedFlags,
    parse_go_duration,
    parse_int,
)
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity

AREA = "apiserver"

# ECDHE key exchange with an AEAD cipher (forward secrecy, no CBC), plus the TLS 1.3 suites.
STRONG_CIPHERS = frozenset(
    {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    }
)
TLS_VERSIONS = {"VersionTLS10": 10, "VersionTLS11": 11, "VersionTLS12": 12, "VersionTLS13": 13}


@dataclass(slots=True)
class ApiServer:
    """One kube-apiserver invocation: where it came from and its parsed flags."""

    obj: K8sObject
    flags: ParsedFlags
    prefix: str

    def path(self, f: Flag | None, name: str = "") -> str:
        """Evidence path of a flag occurrence, or of the command line when the flag is absent."""
        if f is None:
            return f"{self.prefix}.command (--{name} not set)" if name else f"{self.prefix}.command"
        return f"{self.prefix}.{f.source}[{f.index}]"

    def hit(self, name: str, message: str, *, severity: Severity | None = None) -> Hit:
        f = self.flags.flag(name)
        value = f"--{name}={f.value}" if f is not None else None
        return Hit(self.obj, message, path=self.path(f, name), value=value, severity=severity)


def _judged(inv: Inventory, found: tuple[Invocation, ...], component: str) -> list[ApiServer]:
    """The invocations of `component` in `inv.control_plane`. A container whose `command` or `args` is not a
    list of strings (a Pod the API server refuses) is left out and reported as skipped input, so the scan
    names it and exits 2 instead of judging flags it could not read."""
    for u in inv.control_plane.unreadable:
        if u.component == component:
            obj = u.obj
            inv.skip(obj.file, obj.line, f"{obj.kind} {obj.namespace}/{obj.name}: "
                     f"{u.prefix}.{u.problem}; {component} flags not judged")
    return [ApiServer(i.obj, i.flags, i.prefix) for i in found]


def apiservers(inv: Inventory) -> list[ApiServer]:
    """Every kube-apiserver found: containers of static Pods, and synthetic ``KubeAPIServerFlags``."""
    return _judged(inv, inv.control_plane.apiservers, APISERVER)


def etcd_servers(inv: Inventory) -> list[ApiServer]:
    """Every etcd server container of a static Pod."""
    return _judged(inv, inv.control_plane.etcd, ETCD)


# --------------------------------------------------------------------------------------------------------
# Managed control planes: say "not assessed", never pass silently.

MANAGED_EVIDENCE: dict[str, dict[str, str]] = {
    "eks": {
        "apiserver": "`aws eks describe-cluster --name <cluster>`: resourcesVpcConfig (endpointPublicAccess, "
        "publicAccessCidrs), accessConfig.authenticationMode; AWS BAA covering EKS",
        "encryption": "`aws eks describe-cluster --query cluster.encryptionConfig`: a KMS key for 'secrets' "
        "(envelope encryption); `aws kms get-key-rotation-status` for that key",
        "audit": "`aws eks describe-cluster --query cluster.logging`: 'audit' and 'authenticator' log types "
        "enabled; CloudWatch log group /aws/eks/<cluster>/cluster retention >= the configured retention "
        "(or export to S3 with Object Lock)",
        "kubelet": "kubelet config of each node group (`kubectl get --raw /api/v1/nodes/<node>/proxy/configz`, "
        "or /etc/kubernetes/kubelet/config.json on the node) and scan it with --kubelet-config",
    },
    "gke": {
        "apiserver": "`gcloud container clusters describe <cluster>`: masterAuthorizedNetworksConfig, "
        "privateClusterConfig, legacyAbac disabled; Google BAA covering GKE",
        "encryption": "`gcloud container clusters describe <cluster> --format='value(databaseEncryption)'`: "
        "state ENCRYPTED with a Cloud KMS key (application-layer secrets encryption)",
        "audit": "Cloud Audit Logs: Admin Activity (always on) and Data Access logs enabled for "
        "container.googleapis.com; log bucket retention >= the configured retention",
        "kubelet": "node kubelet config (`kubectl get --raw /api/v1/nodes/<node>/proxy/configz`) and the node "
        "pool's shieldedInstanceConfig / kubeletConfig; scan it with --kubelet-config",
    },
    "aks": {
        "apiserver": "`az aks show -g <rg> -n <cluster>`: aadProfile (Entra ID), disableLocalAccounts true, "
        "apiServerAccessProfile; Microsoft BAA covering AKS",
        "encryption": "`az aks show ... --query securityProfile.azureKeyVaultKms`: KMS etcd encryption enabled "
        "with a Key Vault key",
        "audit": "diagnostic settings sending kube-audit (or kube-audit-admin) and guard logs to Log Analytics "
        "or storage with retention >= the configured retention",
        "kubelet": "node kubelet config (`kubectl get --raw /api/v1/nodes/<node>/proxy/configz`); scan it "
        "with --kubelet-config",
    },
}

SELF_MANAGED_EVIDENCE = {
    "apiserver": "the kube-apiserver static Pod manifest (/etc/kubernetes/manifests/kube-apiserver.yaml) or its "
    "command line (`ps -o args= -C kube-apiserver`); pass it with --apiserver-manifest or --control-plane",
    "encryption": "the file named by --encryption-provider-config; pass it with --encryption-config",
    "audit": "the file named by --audit-policy-file; pass it with --audit-policy",
    "kubelet": "the kubelet config (/var/lib/kubelet/config.yaml) or flags; pass it with --kubelet-config",
}


def markers(inv: Inventory) -> tuple[K8sObject, ...]:
    return inv.control_plane.markers


def area_has_evidence(inv: Inventory, area: str) -> bool:
    cp = inv.control_plane
    if area == "apiserver":
        return bool(apiservers(inv))
    if area == "encryption":
        return bool(cp.encryption_configs)
    if area == "audit":
        return bool(cp.audit_policies)
    if area == "kubelet":
        return bool(cp.kubelet_configs or cp.kubelet_flags)
    raise ValueError(area)


# Flags whose files, when missing, leave an area without evidence (the control-plane source records them).
MISSING_FLAG_AREA = {"--encryption-provider-config": "encryption", "--audit-policy-file": "audit"}


def not_assessed(inv: Inventory, area: str, what: str) -> Iterator[Hit]:
    """One hit per ControlPlaneScan marker whose area could not be assessed.

    Managed control planes (``--managed``) are never assessed from files - the provider runs them and the
    node groups - so the hit names the provider evidence to collect instead.
    """
    for marker in markers(inv):
        spec = marker.doc.get("spec") if isinstance(marker.doc.get("spec"), dict) else {}
        managed = str(spec.get("managed") or "") if isinstance(spec, dict) else ""
        if managed:
            evidence = MANAGED_EVIDENCE.get(managed, {}).get(area, "the provider's configuration export")
            scope = ""
            if area == "kubelet" and area_has_evidence(inv, area):
                scope = " beyond the kubelet files given (each provider-managed node group has its own)"
            yield Hit(
                marker,
                f"{what}: not assessed{scope} (managed control plane, {managed.upper()}); "
                f"collect instead: {evidence}",
                path="spec.managed",
                value=managed,
            )
            continue
        if area_has_evidence(inv, area):
            continue
        missing = spec.get("missing") if isinstance(spec, dict) else None
        hint = ""
        if isinstance(missing, list):
            # Only the files that would have been this area's evidence (the apiserver's encryption config is
            # no hint for the kubelet).
            mine = [m for m in missing if isinstance(m, dict) and MISSING_FLAG_AREA.get(str(m.get("flag"))) == area]
            if mine:
                hint = "; not found: " + ", ".join(f"{m.get('flag')}={m.get('path')}" for m in mine)
        yield Hit(
            marker,
            f"{what}: not assessed (no evidence found){hint}; provide {SELF_MANAGED_EVIDENCE[area]}",
            path="spec.requested",
        )


# --------------------------------------------------------------------------------------------------------
# Checks


@check(
    id="KH-API-001",
    title="kube-apiserver allows anonymous requests",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(d)", "164.312(a)(1)"),
    cis=("1.2.1",),
    scope="control-plane",
    remediation="Set --anonymous-auth=false on kube-apiserver (point liveness probes at an authenticated "
    "endpoint or, on 1.32+, allow only /livez and /readyz through AuthenticationConfiguration).",
    description="Unauthenticated requests are mapped to system:anonymous; every request touching ePHI "
    "systems must be attributable to a person or entity (164.312(d)). Default when absent: enabled.",
)
def anonymous_auth(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        value = api.flags.boolean("anonymous-auth")
        if value is None and api.flags.has("anonymous-auth"):
            yield api.hit("anonymous-auth", "--anonymous-auth has an invalid boolean value")
        elif value is None:
            yield api.hit(
                "anonymous-auth", "--anonymous-auth is not set; the default (true) allows anonymous requests"
            )
        elif value:
            yield api.hit("anonymous-auth", "--anonymous-auth=true allows anonymous requests")


@check(
    id="KH-API-002",
    title="kube-apiserver authorization mode AlwaysAllow",
    area=AREA,
    severity=Severity.CRITICAL,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)"),
    cis=("1.2.6",),
    scope="control-plane",
    remediation="Set --authorization-mode=Node,RBAC (never AlwaysAllow).",
    description="AlwaysAllow authorizes every authenticated request, so no access control protects ePHI. "
    "It is also the default when --authorization-mode is absent.",
)
def authz_always_allow(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        modes = api.flags.values("authorization-mode")
        if not api.flags.has("authorization-mode"):
            yield api.hit("authorization-mode", "--authorization-mode is not set; the default is AlwaysAllow")
        elif "AlwaysAllow" in modes:
            yield api.hit("authorization-mode", "--authorization-mode includes AlwaysAllow")


@check(
    id="KH-API-003",
    title="kube-apiserver authorization modes lack Node or RBAC",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)"),
    cis=("1.2.7", "1.2.8"),
    scope="control-plane",
    remediation="Set --authorization-mode=Node,RBAC.",
    description="RBAC is what the access reviews and least-privilege checks of this tool assume; the Node "
    "authorizer limits each kubelet to the secrets and pods of its own node.",
)
def authz_node_rbac(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        if not api.flags.has("authorization-mode"):
            continue  # KH-API-002 reports the AlwaysAllow default
        modes = api.flags.values("authorization-mode")
        missing = [m for m in ("Node", "RBAC") if m not in modes]
        if missing:
            sev = Severity.HIGH if "RBAC" in missing else Severity.MEDIUM
            yield api.hit(
                "authorization-mode", f"--authorization-mode lacks {' and '.join(missing)}", severity=sev
            )


@check(
    id="KH-API-004",
    title="kube-apiserver accepts static token or basic-auth files",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(d)", "164.312(a)(2)(i)"),
    cis=("1.2.2",),
    scope="control-plane",
    remediation="Remove --token-auth-file (and --basic-auth-file on old versions); use client certificates, "
    "OIDC or a webhook authenticator with per-person identities.",
    description="Static tokens live in a cleartext file, never expire and cannot be revoked without a "
    "restart: shared, long-lived credentials defeat unique user identification.",
)
def static_tokens(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        for name in ("token-auth-file", "basic-auth-file"):
            if api.flags.has(name):
                yield api.hit(name, f"--{name} is set: static, non-expiring credentials")


@check(
    id="KH-API-005",
    title="kube-apiserver enables the AlwaysAdmit admission plugin",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(a)(1)",),
    cis=("1.2.10",),
    scope="control-plane",
    remediation="Remove AlwaysAdmit from --enable-admission-plugins.",
    description="AlwaysAdmit (deprecated) admits every request and bypasses admission control.",
)
def always_admit(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        if "AlwaysAdmit" in api.flags.values("enable-admission-plugins"):
            yield api.hit("enable-admission-plugins", "--enable-admission-plugins includes AlwaysAdmit")


@check(
    id="KH-API-006",
    title="kube-apiserver does not enable NodeRestriction",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(a)(1)",),
    cis=("1.2.15",),
    scope="control-plane",
    remediation="Add NodeRestriction to --enable-admission-plugins (with --authorization-mode including Node).",
    description="Without NodeRestriction a compromised kubelet can modify other nodes and pods, and reach "
    "workloads holding ePHI elsewhere in the cluster.",
)
def node_restriction(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        if "NodeRestriction" not in api.flags.values("enable-admission-plugins"):
            yield api.hit("enable-admission-plugins", "NodeRestriction admission plugin is not enabled")
        elif "NodeRestriction" in api.flags.values("disable-admission-plugins"):
            yield api.hit(
                "disable-admission-plugins", "NodeRestriction is listed in --disable-admission-plugins"
            )


@check(
    id="KH-API-007",
    title="kube-apiserver has no encryption-at-rest configuration",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(a)(2)(iv)",),
    cis=("1.2.28",),
    scope="control-plane",
    remediation="Create an EncryptionConfiguration (KMS v2 provider first) and pass it with "
    "--encryption-provider-config; then rewrite existing secrets so they are encrypted.",
    description="Without --encryption-provider-config, Secrets (and any PHI in ConfigMaps) are written to "
    "etcd, its snapshots and backups in plaintext.",
)
def encryption_flag(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        if not api.flags.get("encryption-provider-config"):
            yield api.hit(
                "encryption-provider-config", "--encryption-provider-config is not set: etcd holds plaintext"
            )


@check(
    id="KH-API-008",
    title="kube-apiserver audit logging is not configured",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    cis=("1.2.17",),
    scope="control-plane",
    remediation="Set --audit-policy-file and --audit-log-path (or --audit-webhook-config-file) so every "
    "API request is recorded.",
    description="164.312(b) requires mechanisms that record activity in systems containing ePHI. The API "
    "server records nothing without both a policy and a backend (log path or webhook).",
)
def audit_configured(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        backend = api.flags.get("audit-log-path") or api.flags.get("audit-webhook-config-file")
        if not backend:
            yield api.hit("audit-log-path", "neither --audit-log-path nor --audit-webhook-config-file is set")
        elif not api.flags.get("audit-policy-file"):
            yield api.hit(
                "audit-policy-file", "--audit-policy-file is not set: no audit events are generated"
            )


@check(
    id="KH-API-009",
    title="kube-apiserver audit log retention shorter than required",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.316(b)(2)(i)", "164.312(b)"),
    cis=("1.2.18",),
    scope="control-plane",
    remediation="Set --audit-log-maxage to at least the retention in .kubehipaa.yaml (audit.retention_days, "
    "default 2190 days = 6 years), or ship audit logs to storage that keeps them that long.",
    description="164.316(b)(2)(i) keeps required documentation for six years; audit logs that evidence "
    "safeguards are deleted by the API server after --audit-log-maxage days.",
)
def audit_retention(inv: Inventory) -> Iterator[Hit]:
    want = inv.config.audit.retention_days
    for api in apiservers(inv):
        path = api.flags.get("audit-log-path")
        if not path or path == "-":
            continue
        raw = api.flags.get("audit-log-maxage")
        maxage = parse_int(raw)
        if raw is not None and maxage is None:
            yield api.hit("audit-log-maxage", f"--audit-log-maxage={raw} is not a number of days")
        elif maxage is not None and 0 < maxage < want:
            yield api.hit(
                "audit-log-maxage",
                f"--audit-log-maxage={maxage} days is below the {want}-day retention "
                f"(164.316(b)(2)(i)); older audit logs are deleted unless shipped elsewhere",
            )


@check(
    id="KH-API-010",
    title="kube-apiserver audit log rotation not configured",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(b)",),
    cis=("1.2.19", "1.2.20"),
    scope="control-plane",
    remediation="Set --audit-log-maxbackup (e.g. 10 or more) and --audit-log-maxsize (e.g. 100 MB) and ship "
    "rotated files to long-term storage.",
    description="Without rotation a single audit file grows until the disk fills and the API server stops "
    "recording (or stops serving).",
)
def audit_rotation(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        path = api.flags.get("audit-log-path")
        if not path or path == "-":
            continue
        for name in ("audit-log-maxbackup", "audit-log-maxsize"):
            value = parse_int(api.flags.get(name))
            if value is None or value <= 0:
                yield api.hit(name, f"--{name} is not set to a positive number")


@check(
    id="KH-API-011",
    title="kube-apiserver serving certificate not configured",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    cis=("1.2.25",),
    scope="control-plane",
    remediation="Set --tls-cert-file and --tls-private-key-file to a certificate issued by the cluster CA.",
    description="Without an explicit serving certificate the API server uses a self-signed one, so clients "
    "cannot authenticate the server and transmissions can be intercepted.",
)
def tls_cert(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        for name in ("tls-cert-file", "tls-private-key-file"):
            if not api.flags.get(name):
                yield api.hit(name, f"--{name} is not set")


@check(
    id="KH-API-012",
    title="kube-apiserver accepts TLS older than 1.2",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    scope="control-plane",
    remediation="Set --tls-min-version=VersionTLS12 (or VersionTLS13).",
    description="TLS 1.0/1.1 are deprecated (RFC 8996) and not acceptable for ePHI in transit (NIST SP "
    "800-52r2). No CIS recommendation; kube-apiserver's default is TLS 1.2.",
)
def tls_min_version(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        raw = api.flags.get("tls-min-version")
        if raw is None:
            continue
        if TLS_VERSIONS.get(raw, 0) < 12:
            yield api.hit("tls-min-version", f"--tls-min-version={raw} allows protocols older than TLS 1.2")


@check(
    id="KH-API-013",
    title="kube-apiserver cipher suites not limited to strong ones",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    cis=("1.2.30",),
    scope="control-plane",
    remediation="Set --tls-cipher-suites to ECDHE suites with AES-GCM or ChaCha20-Poly1305 only, e.g. "
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384.",
    description="CBC, RC4, 3DES and static-RSA suites lack forward secrecy or have known attacks. Stricter "
    "than CIS 1.2.30, which still lists TLS_RSA_WITH_AES_*_GCM: those lack forward secrecy.",
)
def tls_ciphers(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        suites = api.flags.values("tls-cipher-suites")
        if not suites:
            yield api.hit("tls-cipher-suites", "--tls-cipher-suites is not set; the Go default list applies")
            continue
        weak = [s for s in suites if s not in STRONG_CIPHERS]
        if weak:
            yield api.hit(
                "tls-cipher-suites",
                f"weak cipher suites allowed: {', '.join(weak)}",
                severity=Severity.MEDIUM,
            )


@check(
    id="KH-API-014",
    title="kube-apiserver to kubelet connection not authenticated",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(e)(1)", "164.312(d)"),
    cis=("1.2.4", "1.2.5"),
    scope="control-plane",
    remediation="Set --kubelet-client-certificate, --kubelet-client-key and --kubelet-certificate-authority.",
    description="exec, logs and port-forward traffic (which can carry ePHI) flows from the API server to "
    "kubelets; without client certificates and a CA the kubelet cannot authenticate the API server and the "
    "API server cannot verify the kubelet.",
)
def kubelet_client(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        for name in ("kubelet-client-certificate", "kubelet-client-key", "kubelet-certificate-authority"):
            if not api.flags.get(name):
                yield api.hit(name, f"--{name} is not set")


@check(
    id="KH-API-015",
    title="kube-apiserver to etcd connection not protected by TLS",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)", "164.312(d)"),
    cis=("1.2.24", "1.2.27"),
    scope="control-plane",
    remediation="Use https:// --etcd-servers with --etcd-cafile, --etcd-certfile and --etcd-keyfile.",
    description="Everything the cluster stores, including Secrets, travels between the API server and etcd; "
    "it must be encrypted and mutually authenticated.",
)
def etcd_tls(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        servers = api.flags.values("etcd-servers")
        plain = [s for s in servers if s.startswith("http://")]
        if plain:
            yield api.hit("etcd-servers", f"etcd reached over plain HTTP: {', '.join(plain)}")
        for name in ("etcd-cafile", "etcd-certfile", "etcd-keyfile"):
            if not api.flags.get(name):
                yield api.hit(name, f"--{name} is not set")


@check(
    id="KH-API-016",
    title="kube-apiserver profiling enabled",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(a)(1)",),
    cis=("1.2.16",),
    scope="control-plane",
    remediation="Set --profiling=false.",
    description="The /debug/pprof endpoints expose internals and enable denial of service; the default is "
    "enabled.",
)
def profiling(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        if api.flags.boolean("profiling") is not False:
            yield api.hit("profiling", "profiling is enabled (the default when --profiling is absent)")


@check(
    id="KH-API-017",
    title="kube-apiserver does not look up service account tokens",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(d)", "164.308(a)(3)(ii)(C)"),
    cis=("1.2.22",),
    scope="control-plane",
    remediation="Remove --service-account-lookup=false (the default is true).",
    description="Without lookup, tokens of deleted service accounts keep working: access is not terminated.",
)
def sa_lookup(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        if api.flags.boolean("service-account-lookup") is False:
            yield api.hit(
                "service-account-lookup", "--service-account-lookup=false: revoked tokens stay valid"
            )


@check(
    id="KH-API-018",
    title="kube-apiserver service account token lifetime not bounded",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(d)", "164.312(a)(2)(iii)"),
    scope="control-plane",
    remediation="Set --service-account-max-token-expiration (e.g. 24h) so requested tokens cannot live "
    "longer.",
    description="Long-lived tokens widen the window in which a leaked credential reaches ePHI. No CIS "
    "recommendation; HIPAA automatic logoff/unique identification reasoning. Threshold: 48h.",
)
def sa_max_expiration(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        raw = api.flags.get("service-account-max-token-expiration")
        if raw is None:
            yield api.hit("service-account-max-token-expiration", "token lifetime is not capped")
            continue
        seconds = parse_go_duration(raw)
        if seconds is None:
            yield api.hit("service-account-max-token-expiration", f"invalid duration {raw!r}")
        elif seconds > 48 * 3600:
            yield api.hit("service-account-max-token-expiration", f"tokens may live {raw}, longer than 48h")


@check(
    id="KH-API-019",
    title="kube-apiserver has no client certificate authority",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(d)",),
    cis=("1.2.26",),
    scope="control-plane",
    remediation="Set --client-ca-file to the cluster CA bundle.",
    description="Without --client-ca-file, client certificates cannot be verified, so components and "
    "administrators fall back to weaker authentication.",
)
def client_ca(inv: Inventory) -> Iterator[Hit]:
    for api in apiservers(inv):
        if not api.flags.get("client-ca-file"):
            yield api.hit("client-ca-file", "--client-ca-file is not set")


@check(
    id="KH-API-020",
    title="kube-apiserver configuration not assessed",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(a)(1)", "164.312(d)", "164.312(e)(1)"),
    scope="control-plane",
    remediation="Provide the kube-apiserver manifest or flags (self-managed), or keep the listed provider "
    "evidence with your HIPAA documentation (managed control plane).",
    description="A control-plane scan was requested but the API server's configuration was not visible. "
    "This is reported instead of a silent pass.",
)
def apiserver_not_assessed(inv: Inventory) -> Iterator[Hit]:
    yield from not_assessed(inv, "apiserver", "kube-apiserver flags")


@check(
    id="KH-API-021",
    title="etcd server does not enforce TLS with client certificates",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)", "164.312(d)", "164.312(a)(2)(iv)"),
    cis=("2.1", "2.2", "2.3", "2.4", "2.5", "2.6"),
    scope="control-plane",
    remediation="Run etcd with --cert-file/--key-file, --client-cert-auth=true, --trusted-ca-file, "
    "--peer-cert-file/--peer-key-file, --peer-client-cert-auth=true, and without --auto-tls/--peer-auto-tls.",
    description="etcd holds every Secret; anyone who can reach its client port without a certificate reads "
    "the whole cluster state (ciphertext or not) and can rewrite it. Checked on the etcd static Pod.",
)
def etcd_server_tls(inv: Inventory) -> Iterator[Hit]:
    for srv in etcd_servers(inv):
        plain = [u for u in srv.flags.values("listen-client-urls") if u.startswith("http://")]
        non_local = [
            u for u in plain if not u.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        ]
        if non_local:
            yield srv.hit(
                "listen-client-urls", f"etcd serves clients over plain HTTP: {', '.join(non_local)}"
            )
        for name in ("cert-file", "key-file", "trusted-ca-file"):
            if not srv.flags.get(name):
                yield srv.hit(name, f"--{name} is not set")
        if srv.flags.boolean("client-cert-auth") is not True:
            yield srv.hit("client-cert-auth", "client certificate authentication is off")
        if srv.flags.boolean("auto-tls") is True:
            yield srv.hit("auto-tls", "--auto-tls uses self-signed certificates")
        for name in ("peer-cert-file", "peer-key-file"):
            if not srv.flags.get(name):
                yield srv.hit(name, f"--{name} is not set", severity=Severity.MEDIUM)
        if srv.flags.boolean("peer-client-cert-auth") is not True:
            yield srv.hit(
                "peer-client-cert-auth",
                "peer client certificate authentication is off",
                severity=Severity.MEDIUM,
            )
        if srv.flags.boolean("peer-auto-tls") is True:
            yield srv.hit(
                "peer-auto-tls", "--peer-auto-tls uses self-signed certificates", severity=Severity.MEDIUM
            )
