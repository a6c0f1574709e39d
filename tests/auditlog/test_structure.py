"""The audit-log side of issue 13's restructure, proved by behaviour.

- One EventList decoder and one "is an audit Event" test (`sources.eventlist`), used by the webhook receiver
  and by the file reader, so the two paths agree on what a document holds.
- The Sigma engine (`engines/auditlog/sigma/`) reads no file: rule texts come from `sources.sigma_files`.
- `audit analyze` without `--sigma` does not pay for pySigma (the front module imports Sigma lazily).
- A failing import fails loudly instead of switching a rule off (the PHI body scan, KH-AUDLOG-080).
- The CLI only parses, calls `pipelines.audit` and renders: its JSON is the pipeline's result rendered.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.auditlog import Detector, SigmaRuleSet, TimeRange, event_from_dict
from kubehipaa.errors import InputError
from kubehipaa.pipelines import audit as pipeline
from kubehipaa.reports.audit_alerts import AuditAlertsReport
from kubehipaa.reports.base import RenderOptions
from kubehipaa.server import audit_webhook
from kubehipaa.sources import auditlog, eventlist
from kubehipaa.sources.auditlog import ReadStats, iter_events
from tests.auditlog.helpers import at, raw_event

SRC = Path(__file__).resolve().parents[2] / "src" / "kubehipaa"


def _event_list(items: list[Any]) -> bytes:
    return orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})


def _read(tmp_path: Path, data: bytes, name: str = "audit.json") -> tuple[list[str | None], ReadStats]:
    path = tmp_path / name
    path.write_bytes(data)
    stats = ReadStats()
    return [e.auditID for e in iter_events([str(path)], stats)], stats


def test_the_webhook_and_the_reader_use_the_one_decoder() -> None:
    assert audit_webhook.decode_event_list_raw is eventlist.decode_event_list_raw
    assert auditlog.decode_event_list_raw is eventlist.decode_event_list_raw
    assert not hasattr(audit_webhook, "decode_batch_raw") and not hasattr(auditlog, "events_from_document")


GOOD = [raw_event(audit_id="a"), raw_event("list", "secrets", audit_id="b", body={"kind": "Secret"})]
GKE_ITEM = {"protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                             "serviceName": "k8s.io", "methodName": "io.k8s.core.v1.pods.get",
                             "resourceName": "core/v1/namespaces/x/pods/p",
                             "authenticationInfo": {"principalEmail": "u@example.org"}},
            "insertId": "g", "timestamp": "2026-11-27T10:00:00Z", "resource": {"type": "k8s_cluster"}}


@pytest.mark.parametrize("pretty", [False, True], ids=["one line", "pretty-printed"])
def test_an_eventlist_reads_as_the_webhook_decodes_it(tmp_path: Path, pretty: bool) -> None:
    """Accepted by the webhook: the reader yields exactly those events (and each event's own bytes)."""
    doc = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": GOOD}
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 if pretty else 0) + b"\n"
    decoded, raws = eventlist.decode_event_list_raw(data)
    ids, stats = _read(tmp_path, data)
    assert ids == [e.auditID for e in decoded] == ["a", "b"]
    assert stats.events == 2 and stats.malformed == 0
    path = tmp_path / "audit.json"
    pairs = [(ev.auditID, orjson.loads(raw)) for batch, lines in
             auditlog.iter_event_batches_with_raw([str(path)]) for ev, raw in zip(batch, lines, strict=True)]
    assert pairs == [("a", GOOD[0]), ("b", GOOD[1])] == [(e.auditID, orjson.loads(r)) for e, r in
                                                         zip(decoded, raws, strict=True)]


@pytest.mark.parametrize("bad", [{"kind": "Event", "verb": 3}, {"kind": "Pod", "metadata": {}}, {}, GKE_ITEM])
def test_a_bad_item_refuses_the_batch_and_is_named_in_a_file(tmp_path: Path, bad: dict[str, Any]) -> None:
    """The webhook refuses the batch whole (the API server keeps it); the file reader keeps the good items
    (a GKE entry is even converted) and names each bad one: never a silently dropped item."""
    data = _event_list([GOOD[0], bad, GOOD[1]])
    with pytest.raises(InputError, match=r"request body: .*items\[1\]|request body: not an audit EventList"):
        eventlist.decode_event_list(data)
    ids, stats = _read(tmp_path, data + b"\n")
    if bad is GKE_ITEM:
        assert ids == ["a", "g", "b"] and stats.malformed == 0
    else:
        assert ids == ["a", "b"] and stats.malformed == 1
        assert stats.malformed_samples[0].message.startswith("items[1]")


SHAPES = [
    {"auditID": ""}, {"verb": ""}, {"requestURI": ""}, {"user": {}}, {"kind": "Event", "auditID": "x"},
    {"kind": "Event"}, {}, {"stage": "ResponseComplete"}, {"kind": "Pod", "verb": "get"},
    {"auditID": None, "verb": None}, {"objectRef": {"resource": "pods"}},
]


@pytest.mark.parametrize("doc", SHAPES, ids=[json.dumps(s) for s in SHAPES])
def test_reader_and_webhook_agree_on_what_is_an_audit_event(tmp_path: Path, doc: dict[str, Any]) -> None:
    body = orjson.dumps(doc)
    try:
        accepted = len(eventlist.decode_event_list(body)) == 1
    except InputError:
        accepted = False
    ids, stats = _read(tmp_path, body + b"\n", "audit.log")
    assert (len(ids) == 1) is accepted, (ids, stats.malformed_samples)
    assert eventlist.is_audit_event(event_from_dict(doc)) is accepted
    listed = _event_list([raw_event(audit_id="ok"), doc])
    try:
        in_batch = len(eventlist.decode_event_list(listed)) == 2
    except InputError:
        in_batch = False
    assert in_batch is accepted


def test_sigma_engine_reads_no_file() -> None:
    """No file access in the Sigma engine: no `open`, no `read_text`/`read_bytes`, no sources import; the
    names given with the texts only label the rules."""
    for path in sorted((SRC / "engines" / "auditlog" / "sigma").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                assert name not in {"open", "read_text", "read_bytes", "iterdir", "rglob", "scandir", "listdir",
                                    "load_ruleset", "from_yaml_file"}, f"{path.name}:{node.lineno} calls {name}"
            if isinstance(node, ast.ImportFrom | ast.Import):
                mods = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(m.startswith("kubehipaa.sources") or m in {"os", "io", "glob", "shutil"}
                               for m in mods), f"{path.name} imports {mods}"
    text = ("title: t\nid: 11111111-0000-4000-8000-0000000000aa\nlogsource: {product: kubernetes, service: audit}\n"
            "detection:\n  s:\n    verb: delete\n  condition: s\n")
    rules = SigmaRuleSet.from_texts([("/nonexistent/rules/t.yml", text)], unread=[("/nonexistent/fifo.yml", "a FIFO")])
    assert [r.file for r in rules.rules] == ["/nonexistent/rules/t.yml"]
    assert [(s.file, s.title, s.reason) for s in rules.skipped] == [("/nonexistent/fifo.yml", "fifo.yml", "a FIFO")]
    with pytest.raises(InputError, match="not valid YAML") as err:
        SigmaRuleSet.from_texts([("/nonexistent/bad.yml", "a: [")])
    assert err.value.file == "/nonexistent/bad.yml"


def test_reading_rule_files_stays_in_sources(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text("title: b\n", encoding="utf-8")
    (tmp_path / "a.yaml").write_text("title: a\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a rule\n", encoding="utf-8")
    from kubehipaa.sources import sigma_files

    texts, unread = sigma_files.read_rules([tmp_path])
    assert list(texts) == [(str(tmp_path / "a.yaml"), "title: a\n"), (str(tmp_path / "b.yml"), "title: b\n")]
    assert unread == []


_PROBE = """
import json, sys
from kubehipaa.cli.main import main
sys.argv = ["kubehipaa", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def test_audit_analyze_without_sigma_does_not_import_pysigma(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(orjson.dumps(raw_event(audit_id="a")) + b"\n")
    argv = ["audit", "analyze", str(log), "-f", "json", "-o", str(tmp_path / "r.json")]
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=True)
    modules = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert "kubehipaa.engines.auditlog" in modules and "kubehipaa.pipelines.audit" in modules
    assert not {m for m in modules if m == "sigma" or m.startswith(("sigma.", "kubehipaa.engines.auditlog.sigma"))}


def test_a_failing_phi_import_cannot_switch_the_body_rule_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit core used to re-import the PHI engine when building a Detector and, on ImportError, drop the
    body rules (KH-AUDLOG-080) without a word. The import is now a plain module import: if it fails, the
    audit engine fails to import; once imported, nothing can turn the rule off."""
    import kubehipaa.engines as engines

    monkeypatch.setitem(sys.modules, "kubehipaa.engines.phi", None)  # any later import of it raises
    monkeypatch.delattr(engines, "phi", raising=False)
    body = {"kind": "ConfigMap", "metadata": {"name": "intake"}, "data": {"ssn": "123-45-6789"}}
    ev = event_from_dict(raw_event("create", "configmaps", name="intake", code=201, body=body))
    assert "KH-AUDLOG-080" in {a.rule_id for a in Detector().process(ev)}


def test_a_missing_phi_engine_fails_loudly() -> None:
    code = ("import sys; sys.modules['kubehipaa.engines.phi'] = None\n"
            "import kubehipaa.engines.auditlog\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "import of kubehipaa.engines.phi halted" in proc.stderr


def test_the_cli_renders_what_the_pipeline_returns(tmp_path: Path) -> None:
    events = [raw_event("create", "pods", sub="exec", name="ehr-0", time=at(1), code=101),
              raw_event("list", "secrets", ns=None, time=at(2), uri="/api/v1/secrets"),
              raw_event("get", "pods", time=at(9))]
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["audit", "analyze", str(log), "-f", "json", "-o", str(out), "--fail-on", "never",
                                   "--until", "2026-11-27T10:05:00Z", "--keep", "1"])
    assert res.exit_code == 0, res.output
    from_cli = orjson.loads(out.read_bytes())
    result = pipeline.analyze([str(log)], keep=1, window=TimeRange(None, "2026-11-27T10:05:00"))
    assert result.window.kept == 2 and result.inputs.events == 3
    direct = orjson.loads(AuditAlertsReport().render(result, "json", RenderOptions(generated_at="x")))
    for doc in (from_cli, direct):
        doc.pop("generatedAt")
        doc["inputs"].pop("files")
    assert from_cli == direct


def test_select_rules() -> None:
    from kubehipaa.model import Severity

    assert {r.severity for r in pipeline.select_rules(Severity.HIGH)} <= {Severity.HIGH, Severity.CRITICAL}
    assert [r.id for r in pipeline.select_rules(only=["KH-AUDLOG-030"])] == ["KH-AUDLOG-030"]
    with pytest.raises(pipeline.UnknownRules) as err:
        pipeline.select_rules(only=["KH-AUDLOG-030", "KH-NOPE-1"])
    assert err.value.ids == ["KH-NOPE-1"]
