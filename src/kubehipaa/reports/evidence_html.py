"""The HIPAA evidence report as one self-contained HTML page (and, through `evidence_pdf`, a PDF).

Why a page of its own and not the JSON with a stylesheet: an auditor reads it per safeguard and per paragraph,
so it is laid out from the coverage model (`pipelines.coverage.scan_coverage`), not from the finding list:
every paragraph of 164.308/310/312/316 appears with its state, the rules behind it, the catalog's evidence
text and its findings; paragraphs no rule can evidence are listed as attestation required, never omitted.

What keeps it honest:
* everything shown comes from the redacted result (`common.redact_result`) and the redacted report tree
  (`json_report.report_dict`), rendered by Jinja2 with autoescaping: nothing from a manifest is markup;
* the report data (the JSON report tree, fingerprints included) is embedded in
  `<script type="application/json" id="kubehipaa-report">` with an `integrity` block over its canonical
  bytes (`reports.integrity`), which `kubehipaa verify` recomputes;
* no network: CSS, the filter script and the SVG charts are inline, generated here.

Size: each paragraph shows at most `max_rows` open and `max_rows` suppressed findings (a "N more" line says how many are not shown; the
embedded data and `--format json` hold all of them), so tens of thousands of findings stay a page a browser
opens; the embedded data grows linearly with the findings.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from kubehipaa.config import Config
from kubehipaa.frameworks import load_hipaa
from kubehipaa.frameworks.coverage import Coverage, ParagraphCoverage
from kubehipaa.model import Finding
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.pipelines.scan import ScanResult
from kubehipaa.redaction import redact_tree
from kubehipaa.reports import integrity
from kubehipaa.reports.common import SEVERITIES_DESC, UNMAPPED, exception_record, redact_result
from kubehipaa.reports.json_report import report_dict
from kubehipaa.reports.metadata import run_metadata

DEFAULT_MAX_ROWS = 100
REPORT_SCRIPT_ID = integrity.EMBED_ID
TITLE = "HIPAA Security Rule evidence report"
SAFEGUARDS = ("administrative", "physical", "technical", "documentation")
SEVERITY_COLORS = {"critical": "#8b0000", "high": "#cf222e", "medium": "#bf8700", "low": "#57606a"}
SCORE_FORMULA = ("score = passed ÷ (passed + failed) over the assessed paragraphs, as a whole percentage; "
                 "not-assessed and attestation-required paragraphs are left out of the score and counted next "
                 "to it; no score when nothing was assessed (docs/reports.md, “Coverage per HIPAA paragraph”)")
CLUSTER_SCOPED = "(cluster-scoped)"
# The page's only script: show the finding rows that match the filters (severity at or above, namespace,
# rule, suppressed or not) and say how many are shown. Allowed by the page's Content-Security-Policy through
# its hash, so no other script (nor any network request) can run even if markup ever slipped through.
FILTER_JS = """(function () {
  var rank = {low: 1, medium: 2, high: 3, critical: 4};
  var sev = document.getElementById("f-severity"), ns = document.getElementById("f-namespace"),
      rule = document.getElementById("f-rule"), sup = document.getElementById("f-suppressed"),
      count = document.getElementById("shown-count");
  var rows = document.querySelectorAll("tr.finding");
  function apply() {
    var shown = 0, min = sev.value ? rank[sev.value] : 0;
    for (var i = 0; i < rows.length; i++) {
      var d = rows[i].dataset;
      var ok = rank[d.severity] >= min && (!ns.value || d.namespace === ns.value) &&
               (!rule.value || d.rule === rule.value) && (sup.checked || d.suppressed !== "true");
      rows[i].hidden = !ok;
      if (ok) { shown++; }
    }
    count.textContent = shown + " of " + rows.length + " finding rows shown";
  }
  [sev, ns, rule, sup].forEach(function (el) { el.addEventListener("change", apply); });
  apply();
})();"""
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(FILTER_JS.encode("utf-8")).digest()).decode("ascii")


def sealed_tree(result: ScanResult, config: Config, sign_key: Any = None) -> dict[str, Any]:
    """The JSON report tree with its `integrity` block (signed with `sign_key`, `scan --sign-key`)."""
    return integrity.sealed(report_dict(result, config), sign_key)


def _location(finding: Finding) -> str:
    res = finding.resource
    return f"{res.file}:{res.line}" if res.line > 0 else res.file


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


def _finding_row(f: Finding) -> dict[str, Any]:
    return {
        "severity": f.severity.label, "rule": f.check_id, "title": f.title, "resource": f.resource.display,
        "namespace": f.resource.namespace or CLUSTER_SCOPED, "location": _location(f), "message": str(f.message),
        "evidence": [{"path": e.path, "value": _value_text(e.value), "redacted": e.redacted} for e in f.evidence],
        "suppressed": f.suppressed, "suppression": f.suppression, "fingerprint": f.fingerprint,
    }


class _Rows:
    """The findings in report order (open before suppressed, then severity, rule, resource), sorted once, with
    each rule's open and suppressed findings in that order: a paragraph's first `max_rows` are then a k-way
    merge of its rules' lists, not a sort of all its findings (59 paragraphs over tens of thousands)."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        order = sorted(findings, key=lambda f: (f.suppressed, -f.severity, f.check_id, f.resource.display))
        self.rank = {id(f): i for i, f in enumerate(order)}
        self.open: dict[str, list[Finding]] = {}
        self.waived: dict[str, list[Finding]] = {}
        for f in order:
            (self.waived if f.suppressed else self.open).setdefault(f.check_id, []).append(f)

    def view(self, rules: Sequence[str], max_rows: int | None) -> dict[str, Any]:
        """Counts, the rows shown (at most `max_rows` open and `max_rows` suppressed: capped apart, so what an
        exception waived is listed even under many open findings) and how many are not shown."""
        out: dict[str, Any] = {"open": 0, "suppressed": 0, "findings": []}
        for key, lists in (("open", self.open), ("suppressed", self.waived)):
            chosen = [lists[r] for r in rules if r in lists]
            out[key] = sum(map(len, chosen))
            merged = heapq.merge(*chosen, key=lambda f: self.rank[id(f)])
            out["findings"] += [_finding_row(f) for f in itertools.islice(merged, max_rows)]
        out["more"] = out["open"] + out["suppressed"] - len(out["findings"])
        return out


def _paragraph_view(pc: ParagraphCoverage, rows: _Rows, max_rows: int | None,
                    proposed_rule: bool, catalog_status: str | None) -> dict[str, Any]:
    para = pc.paragraph
    return {
        "id": para.id, "anchor": "p-" + "".join(c if c.isalnum() else "-" for c in para.id), "name": para.name,
        "type": para.type, "standard": para.standard, "evidence": para.evidence, "state": pc.state,
        "partial": pc.partial, "requirement": pc.requirement, "reasons": list(pc.reasons),
        "made_required": proposed_rule and catalog_status == "addressable",
        "rules": [{"id": rc.rule_id, "relation": rc.relation, "state": rc.outcome.state,
                   "reasons": list(rc.outcome.reasons), "open": rc.outcome.open,
                   "open_by_severity": dict(rc.outcome.open_by_severity), "suppressed": rc.outcome.suppressed}
                  for rc in pc.rules],
        **rows.view([rc.rule_id for rc in pc.rules], max_rows),
    }


def _exceptions(result: ScanResult, config: Config) -> list[dict[str, Any]]:
    """Every exception of the config with its status and the findings it suppressed in this scan."""
    matched = Counter((s["check"], s["owner"], s["justification"], s["expires"])
                      for f in result.findings if f.suppressed and isinstance(s := f.suppression, dict))
    expired = {id(r) for r in result.expired_exceptions}
    unused = {id(r) for r in result.unused_exceptions}
    out = []
    for rule in config.exceptions:
        record = exception_record(rule)
        record["matches"] = matched[(rule.check, rule.owner, rule.justification, rule.expires.isoformat())]
        record["status"] = "expired" if id(rule) in expired else "unused" if id(rule) in unused else "active"
        res = record["resource"]
        record["resource_text"] = "/".join(str(v) for v in (res["kind"], res["namespace"], res["name"]) if v) \
            + (f" container {res['container']}" if res.get("container") else "") or "any resource"
        out.append(record)
    return out


def _score_view(cov: Coverage, safeguard: str | None) -> dict[str, Any]:
    s = cov.score(safeguard)
    return {"name": "Overall" if safeguard is None else Coverage.safeguard_name(safeguard), "key": safeguard or "all",
            "percent": s.percent, "passed": s.passed, "failed": s.failed, "not_assessed": s.not_assessed,
            "attestation": s.attestation}


def _bar_chart(rows: Sequence[tuple[str, dict[str, int]]], width: int = 660) -> dict[str, Any]:
    """Geometry of a horizontal stacked bar chart (one bar per row, one segment per severity), computed here
    so the page draws it as inline SVG without a script or a library."""
    bar_h, gap, right = 22, 8, 60
    label_w = min(340, 12 + round(6.8 * max((len(label) for label, _ in rows), default=0)))
    total_max = max((sum(c.values()) for _, c in rows), default=0) or 1
    scale = (width - label_w - right) / total_max
    bars = []
    for i, (label, counts) in enumerate(rows):
        y, x, segments = i * (bar_h + gap), float(label_w), []
        for sev in SEVERITIES_DESC:
            n = counts.get(sev.label, 0)
            if n:
                w = max(n * scale, 1.0)
                segments.append({"x": round(x, 1), "w": round(w, 1), "n": n, "severity": sev.label,
                                 "color": SEVERITY_COLORS[sev.label]})
                x += w
        bars.append({"label": label, "y": y, "ty": y + bar_h * 0.7, "total": sum(counts.values()),
                     "end": round(x + 6, 1), "segments": segments})
    return {"width": width, "height": max(len(rows) * (bar_h + gap), bar_h), "bar_h": bar_h, "bars": bars,
            "label_w": label_w}


def evidence_view(result: ScanResult, config: Config, *, argv: Sequence[str] = (), proposed_rule: bool = False,
                  max_rows: int | None = DEFAULT_MAX_ROWS, sign_key: Any = None) -> dict[str, Any]:
    """Everything the template shows, from the redacted result (`max_rows` findings per paragraph; None: all)."""
    result = redact_result(result)
    catalog = load_hipaa()
    tree = sealed_tree(result, config, sign_key)
    meta = redact_tree(run_metadata(result, argv, when=tree["generatedAt"]).to_dict())
    cov = scan_coverage(result, proposed_rule=proposed_rule)
    rows = _Rows(result.findings)
    paragraphs = [_paragraph_view(pc, rows, max_rows, proposed_rule, pc.paragraph.status) for pc in cov.paragraphs]
    by_safeguard = [{"key": sg, "name": Coverage.safeguard_name(sg), "score": _score_view(cov, sg),
                     "paragraphs": [p for p, pc in zip(paragraphs, cov.paragraphs, strict=True)
                                    if pc.paragraph.safeguard == sg]}
                    for sg in SAFEGUARDS]
    active = result.active
    sev_counts = Counter(f.severity.label for f in active)
    per_safeguard: dict[str, Counter[str]] = {}
    for f in tree["findings"]:
        if not f["suppressed"]:
            para = catalog.get(f["safeguard"])
            key = para.safeguard if para is not None else UNMAPPED
            per_safeguard.setdefault(key, Counter())[f["severity"]] += 1
    safeguard_rows = [(Coverage.safeguard_name(k), dict(per_safeguard.get(k, Counter())))
                      for k in (*SAFEGUARDS, *(k for k in per_safeguard if k not in SAFEGUARDS))]
    severity_rows = [(s.label, {s.label: sev_counts.get(s.label, 0)}) for s in SEVERITIES_DESC]
    # A finding whose rule no catalogued paragraph lists (a custom rule, an unmapped check) is never dropped.
    listed = {rc.rule_id for pc in cov.paragraphs for rc in pc.rules}
    other = rows.view(sorted({f.check_id for f in result.findings} - listed), max_rows)
    tables = [*paragraphs, other]
    shown_rules = sorted({r["rule"] for p in tables for r in p["findings"]})
    shown_namespaces = sorted({r["namespace"] for p in tables for r in p["findings"]})
    return {
        "title": TITLE, "report": tree, "meta": meta, "summary": tree["summary"],
        "framework": tree["framework"], "proposed_rule": proposed_rule, "max_rows": max_rows,
        "overall": _score_view(cov, None), "scores": [s["score"] for s in by_safeguard], "formula": SCORE_FORMULA,
        "safeguards": by_safeguard, "severities": [s.label for s in SEVERITIES_DESC],
        "severity_chart": _bar_chart(severity_rows), "safeguard_chart": _bar_chart(safeguard_rows),
        "colors": SEVERITY_COLORS,
        "not_assessed": [p for p in paragraphs if p["state"] == "not-assessed" or p["partial"]],
        "attestation": [p for p in paragraphs if p["state"] == "attestation-required"],
        "exceptions": _exceptions(result, config), "rules": shown_rules, "namespaces": shown_namespaces,
        "other": other, "rows_shown": sum(len(p["findings"]) for p in tables),
        "rows_more": sum(p["more"] for p in tables),
        "embedded": integrity.script_json(tree), "script_id": REPORT_SCRIPT_ID, "filter_js": FILTER_JS,
        "script_hash": SCRIPT_HASH,
    }


def render_evidence_html(result: ScanResult, config: Config, *, argv: Sequence[str] = (),
                         proposed_rule: bool = False, max_rows: int | None = DEFAULT_MAX_ROWS,
                         sign_key: Any = None) -> str:
    """The self-contained evidence report (no external asset; opens from a file; prints)."""
    import jinja2  # ~50 ms of imports, for HTML only

    env = jinja2.Environment(loader=jinja2.PackageLoader("kubehipaa.reports", "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    view = evidence_view(result, config, argv=argv, proposed_rule=proposed_rule, max_rows=max_rows,
                         sign_key=sign_key)
    return env.get_template("evidence.html.j2").render(**view) + "\n"
