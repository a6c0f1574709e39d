"""The registry redacts every hit's message and evidence path when it makes the finding, and remembers the
redacted paths within one check's run (a check reports the same few paths on every object): a remembered path
is still the redacted one, on the first hit and on every repeat, whatever the path holds."""

from __future__ import annotations

from kubehipaa.checks.registry import Check, CheckMeta, Hit
from kubehipaa.config import Config
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity
from kubehipaa.redaction import redact_text

PATHS = [
    "spec.containers[0].env[0].value",
    "metadata.annotations.password=hunter2",
    "metadata.labels.ssn-078-05-1120",
    "spec.url?token=abc",
    "metadata.annotations.mrn 12345",
]


def _check(hits: list[Hit]) -> Check:
    meta = CheckMeta(id="KH-TST-001", title="t", area="test", severity=Severity.LOW, hipaa=(), remediation="r")
    return Check(meta, lambda _inv: iter(hits))


def test_every_evidence_path_is_redacted_on_every_hit() -> None:
    objs = [K8sObject({"kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "ns"}}, "f.yaml", i + 1)
            for i in range(4)]
    hits = [Hit(obj, f"message on {p}", path=p, value="x") for obj in objs for p in PATHS]
    findings = _check(hits).run(Inventory(objs, Config()))
    assert len(findings) == len(hits)
    for f, h in zip(findings, hits, strict=True):
        assert f.evidence[0].path == redact_text(h.path)
        assert f.message == redact_text(h.message)
    shown = {f.evidence[0].path for f in findings}
    assert not any(secret in p for p in shown for secret in ("hunter2", "078-05-1120", "token=abc", "12345"))
