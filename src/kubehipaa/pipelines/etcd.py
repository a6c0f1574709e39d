"""The etcd verify pipeline: is what etcd actually stores encrypted, and under the current key?

A configuration file can say "encrypted" while etcd still holds plaintext written before encryption was
enabled, or ciphertext under a retired key. `verify_etcd` reads the keys under each resource's prefix
(`sources.etcd`, which classifies each value by its prefix and drops it), the encryption engine says what each
classification means against the EncryptionConfiguration's current key, and the result keeps only key names
and classifications: values are never kept, printed or stored. Rendering is `reports.etcd`'s.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from kubehipaa.engines.controlplane import (
    STATUS_CURRENT,
    STATUS_PLAINTEXT,
    STATUS_STALE,
    STATUS_UNREADABLE,
    EncryptionConfig,
    value_status,
)
from kubehipaa.errors import InputError
from kubehipaa.sources.etcd import EtcdClient, EtcdDeadlineError, EtcdOptions

STATUS_ENCRYPTED = "encrypted"  # encrypted, but no configuration to compare the key with
STATUSES = (STATUS_PLAINTEXT, STATUS_STALE, STATUS_UNREADABLE, STATUS_CURRENT, STATUS_ENCRYPTED)
BAD_STATUSES = (STATUS_PLAINTEXT, STATUS_STALE, STATUS_UNREADABLE)
"""What makes the run exit 1: plaintext, a key that is not the current one, a key the config does not list."""
# Built-in API groups whose resources are stored as /registry/<resource>/ (not /registry/<group>/<resource>/).
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "extensions"}
DEFAULT_RESOURCES = (("secrets", ""), ("configmaps", ""))


@dataclass(slots=True)
class ResourceReport:
    """One resource's stored objects: counts per status (overall and per namespace) and the ones to fix."""

    resource: str
    group: str
    prefix: str
    counts: Counter[str] = field(default_factory=Counter)
    namespaces: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    objects: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    """Per bad status, each object's namespace and name, and its encoding (plaintext) or provider, version
    and key name (ciphertext): what to re-encrypt, never the value."""

    @property
    def display(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def bad(self) -> int:
        return sum(self.counts.get(s, 0) for s in BAD_STATUSES)


@dataclass(slots=True)
class EtcdVerification:
    """What `etcd verify` found: the endpoint that answered, at which revision, and each resource's report.

    `warnings`: what the reader must know besides the counts (a resource with no key at all)."""

    endpoint: str
    revision: int | None
    encryption_config: str | None
    """Where the EncryptionConfiguration came from (None: no config given, keys were not compared)."""
    resources: list[ResourceReport]
    warnings: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        """Objects stored in plaintext, under a non-current key, or under a key the config does not list."""
        return sum(r.bad for r in self.resources)

    @property
    def ok(self) -> bool:
        return self.bad == 0


def etcd_prefix(root: str, resource: str, group: str) -> str:
    """The key prefix the API server stores `resource.group` under, below its `--etcd-prefix` `root`."""
    root = "/" + root.strip("/")
    if group in BUILTIN_GROUPS or group.endswith(".k8s.io"):
        return f"{root}/{resource}/"
    return f"{root}/{group}/{resource}/"


def parse_resource(text: str) -> tuple[str, str]:
    """`RESOURCE` or `RESOURCE.GROUP` (as `--resource` takes it) as (resource, group)."""
    resource, _, group = text.strip().partition(".")
    if not resource:
        raise InputError(
            f"--resource {text!r}: expected RESOURCE or RESOURCE.GROUP, e.g. secrets or widgets.example.com"
        )
    return resource, group


def verify_etcd(options: EtcdOptions, resources: list[tuple[str, str]], config: EncryptionConfig | None,
                *, root: str = "/registry", config_source: str | None = None) -> EtcdVerification:
    """Connect with `options` and classify every stored object of each resource (`verify`).

    No key at all under any prefix is an input error: "all current" over nothing is no evidence (every
    cluster has ConfigMaps, kube-root-ca.crt), so the prefix or the etcd is wrong."""
    with EtcdClient(options) as client:
        reports = verify(client, resources, config, root)
        endpoint, revision = client.endpoint, client.revision
    if not any(rep.counts for rep in reports):
        raise InputError(
            f"{endpoint}: no keys under {', '.join(r.prefix for r in reports)}; is --prefix the API server's "
            "--etcd-prefix, and is this the API server's etcd?"
        )
    warnings = [f"no keys under {rep.prefix} at {endpoint}" for rep in reports if not rep.counts]
    return EtcdVerification(endpoint, revision, config_source, reports, warnings)


def verify(
    client: EtcdClient, resources: list[tuple[str, str]], config: EncryptionConfig | None, root: str
) -> list[ResourceReport]:
    """Classify every stored object of each resource; only key names and classifications are kept.

    A read cut short by the time limit is an error that says how far it got, never a partial report: the
    objects not read could be the plaintext ones.
    """
    reports: list[ResourceReport] = []
    for resource, group in resources:
        prefix = etcd_prefix(root, resource, group)
        rep = ResourceReport(resource, group, prefix)
        try:
            _classify(client, rep, config)
        except EtcdDeadlineError as exc:
            done = ", ".join(f"{r.display} ({r.total} keys)" for r in reports)
            raise EtcdDeadlineError(
                f"{exc}" + (f"; read completely before: {done}" if done else "")
                + "; nothing is reported (raise --timeout for a store this size)"
            ) from None
        reports.append(rep)
    return reports


def _classify(client: EtcdClient, rep: ResourceReport, config: EncryptionConfig | None) -> None:
    """Count every object under the resource's prefix by status, keeping names of the ones to fix."""
    resource, group, prefix = rep.resource, rep.group, rep.prefix
    for ck in client.scan_prefix(prefix.encode()):
        rest = ck.key[len(prefix) :]
        ns, _, name = rest.partition("/") if "/" in rest else ("", "", rest)
        vc = ck.value_class
        status = value_status(vc, config, resource, group)
        if config is None and status == STATUS_CURRENT:
            status = STATUS_ENCRYPTED
        rep.counts[status] += 1
        rep.namespaces[ns or "(cluster)"][status] += 1
        if status in BAD_STATUSES:
            entry = {"namespace": ns, "name": name}
            if vc.kind == "plaintext":
                entry["encoding"] = vc.encoding
            else:
                entry.update(provider=vc.provider, version=vc.version, key=vc.key)
            rep.objects[status].append(entry)

