"""Typed records that flow through the pipeline: objects in, findings out.

Kept deliberately small: `K8sObject` is a thin wrapper over the parsed document that remembers where it
came from (file and line) so every finding can point an auditor at the exact place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from hashlib import sha256
from typing import Any


class Severity(IntEnum):
    """Ordered so that `--fail-on` is a simple comparison."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return _SEVERITY_LABELS[self]  # Enum.name is a descriptor call: reports ask once per finding

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None

    def __str__(self) -> str:
        return self.label


_SEVERITY_LABELS: dict[Severity, str] = {sev: sev.name.lower() for sev in Severity}


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """Where a finding points: the object and the file/line it was read from."""

    api_version: str
    kind: str
    namespace: str | None
    name: str
    file: str
    line: int
    namespace_assumed: bool = False
    """True when the manifest had no metadata.namespace and `namespace` is the one it would be applied to
    (`--namespace`, else `default`); reports say so, since the file alone does not pin it down."""

    @property
    def display(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        # Config files (audit Policy, EncryptionConfiguration) often have no metadata.name: name them by file.
        name = self.name or f"({self.file.rsplit('/', 1)[-1]})"
        return f"{self.kind}/{ns}{name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "namespaceAssumed": self.namespace_assumed,
        }


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class K8sObject:
    """One Kubernetes document (or one item of a `List`) with its origin."""

    doc: dict[str, Any]
    file: str
    line: int
    kind: str = ""
    api_version: str = ""
    name: str = ""
    namespace: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Facts a source learned outside the document (e.g. file mode of a control-plane file)."""
    namespace_assumed: bool = False
    """Set by the file source when the document had no metadata.namespace and was placed in the namespace it
    would be applied to (`sources.namespaces`); `namespace` and the document then both carry that name."""

    def __post_init__(self) -> None:
        doc = self.doc
        self.kind = str(doc.get("kind") or "")
        self.api_version = str(doc.get("apiVersion") or "")
        meta = _as_dict(doc.get("metadata"))
        self.name = str(meta.get("name") or meta.get("generateName") or "")
        ns = meta.get("namespace")
        self.namespace = str(ns) if ns else None

    @property
    def metadata(self) -> dict[str, Any]:
        return _as_dict(self.doc.get("metadata"))

    @property
    def labels(self) -> dict[str, str]:
        return _as_dict(self.metadata.get("labels"))

    @property
    def annotations(self) -> dict[str, str]:
        return _as_dict(self.metadata.get("annotations"))

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(self.api_version, self.kind, self.namespace, self.name, self.file, self.line,
                           self.namespace_assumed)

    @property
    def display(self) -> str:
        return self.ref.display


@dataclass(slots=True)
class Evidence:
    """The offending field and its value; `redacted` is True when the value was masked."""

    path: str
    value: Any = None
    redacted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "value": self.value, "redacted": self.redacted}


@dataclass(slots=True)
class Finding:
    """A check's verdict on one resource, with everything an auditor needs to act on it."""

    check_id: str
    title: str
    severity: Severity
    resource: ResourceRef
    message: str
    evidence: list[Evidence]
    remediation: str
    hipaa: tuple[str, ...]
    suppressed: bool = False
    suppression: dict[str, Any] | None = None

    @property
    def fingerprint(self) -> str:
        """A stable id for "this problem on this object": rule id + the object's identity (API group, kind,
        namespace, name; the cluster context for an object read from a cluster) + the first evidence field
        path. Not the file path or line: moving or reformatting a manifest is not a new finding, so history
        diffs, baselines and SARIF's partialFingerprints see the same finding. 32 hex digits of SHA-256."""
        return finding_fingerprint(self.check_id, self.resource, self.evidence[0].path if self.evidence else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkId": self.check_id,
            "title": self.title,
            "severity": self.severity.label,
            "resource": self.resource.to_dict(),
            "message": self.message,
            "evidence": [e.to_dict() for e in self.evidence],
            "remediation": self.remediation,
            "hipaa": list(self.hipaa),
            "suppressed": self.suppressed,
            "suppression": self.suppression,
            "fingerprint": self.fingerprint,
        }


FINGERPRINT_VERSION = "kubehipaa/v1"
"""Bumped when `finding_fingerprint`'s recipe changes (saved history then says its baseline is incomparable)."""


def finding_fingerprint(check_id: str, resource: ResourceRef, path: str) -> str:
    """See `Finding.fingerprint`."""
    return _fingerprint(check_id, _resource_key(resource), path)


def fingerprints(findings: list[Finding]) -> list[str]:
    """`[f.fingerprint for f in findings]`, the resource's part of the key made once per resource (findings
    share a few thousand `ResourceRef`s: the JSON report asks for 18,718 fingerprints on 8,679 resources at
    2,000 workloads)."""
    keys: dict[int, tuple[ResourceRef, str]] = {}
    out = []
    for f in findings:
        resource = f.resource
        entry = keys.get(id(resource))
        if entry is None or entry[0] is not resource:
            entry = keys[id(resource)] = (resource, _resource_key(resource))
        out.append(_fingerprint(f.check_id, entry[1], f.evidence[0].path if f.evidence else ""))
    return out


def _resource_key(resource: ResourceRef) -> str:
    group = resource.api_version.rpartition("/")[0]
    cluster = resource.file.split("/", 1)[0] if resource.file.startswith("cluster:") else ""
    return "\x1f".join((cluster, group, resource.kind, resource.namespace or "", resource.name))


def _fingerprint(check_id: str, resource_key: str, path: str) -> str:
    key = f"{FINGERPRINT_VERSION}\x1f{check_id}\x1f{resource_key}\x1f{path}"
    return sha256(key.encode()).hexdigest()[:32]
