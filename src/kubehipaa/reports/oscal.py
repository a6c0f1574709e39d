"""A scan as OSCAL 1.1 assessment results: what the scan tested (observations) and, per HIPAA paragraph, what
that means (findings), for GRC tools that import OSCAL rather than read our JSON.

Why built as plain data and not through compliance-trestle's models: rendering must not need a 27 MB optional
dependency, and the pydantic-v1 models trestle generates would add seconds to a scan. The document is checked
against trestle's `AssessmentResults` by the tests, and at run time when the `oscal` extra is installed
(`validate`).

Design (docs/reports.md "OSCAL"):
* control ids: a paragraph `164.312(a)(2)(iv)` is the control `hipaa-164.312-a-2-iv` (`control_id`); case is
  kept, so `164.308(a)(1)(ii)(A)` is `hipaa-164.308-a-1-ii-A` and the mapping is reversible;
* `import-ap`: OSCAL requires a reference to an assessment plan. A scan has no plan document of its own: the plan
  is the catalog plus the checks that ran, so `import-ap` points (`#uuid`) at a back-matter resource saying so;
* one result; `reviewed-controls` lists every paragraph of 164.308/.310/.312/.316 in the coverage model;
* one observation per finding (open or suppressed by an exception), method TEST, its subject the Kubernetes
  object as an inventory item (kind, namespace, name, file:line or `cluster:<ctx>/...`), the redacted evidence;
* one finding per paragraph. OSCAL's objective status has only `satisfied` / `not-satisfied`: a paragraph that
  was not assessed, or needs attestation, is `not-satisfied` with reason `other`, the prop `assessment-state`
  (our namespace) saying which, and the reasons in remarks — never `satisfied`;
* UUIDs are version-5 UUIDs of a run seed (the inputs' SHA-256, catalog digest, tool version, finding
  fingerprints) and the thing named: two renders of the same scan differ only in their timestamps;
* run metadata (`reports.metadata`): the tool as an assessment-platform component and the observations'
  origin, every input a back-matter resource with its SHA-256, the catalog likewise.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from kubehipaa.frameworks import load_hipaa
from kubehipaa.frameworks.coverage import Coverage, ParagraphCoverage
from kubehipaa.model import Finding, ResourceRef
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.pipelines.scan import ScanResult
from kubehipaa.redaction import redact_text
from kubehipaa.reports.common import INFORMATION_URI, redact_result
from kubehipaa.reports.integrity import content_digest
from kubehipaa.reports.metadata import RunMetadata, run_metadata

OSCAL_VERSION = "1.1.3"
"""The newest 1.1.x release; compliance-trestle 3.x validates 1.1.0-1.1.3."""
NS = "https://kubehipaa.io/ns/oscal"
"""The namespace of our own props (OSCAL names without `ns` are NIST's)."""
UUID_NAMESPACE = uuid.UUID("5d0c8f5e-3a1b-5c2e-9f4a-6b8e2d7c1a90")
"""Fixed root of every UUID this module derives (uuid5): never change it, or ids change across versions."""
STATUS = {"passed": "satisfied", "failed": "not-satisfied", "not-assessed": "not-satisfied",
          "attestation-required": "not-satisfied"}
REASON = {"passed": "pass", "failed": "fail", "not-assessed": "other", "attestation-required": "other"}


def control_id(paragraph_id: str) -> str:
    """`164.312(a)(2)(iv)` → `hipaa-164.312-a-2-iv` (an OSCAL token: no parentheses)."""
    head, _, rest = paragraph_id.partition("(")
    parts = [p for p in re.split(r"[()]+", "(" + rest) if p]
    return "-".join(["hipaa", head, *parts])


def _line(text: object, empty: str = "(empty)") -> str:
    """A prop value or title: one line, no leading/trailing space (OSCAL's `string` type)."""
    return " ".join(str(text).split()) or empty


def _prop(name: str, value: object, *, ours: bool = True) -> dict[str, Any]:
    prop: dict[str, Any] = {"name": name, "value": _line(value)}
    if ours:
        prop["ns"] = NS
    return prop


class _Ids:
    """Deterministic UUIDs: uuid5 of the run seed and what is named; a repeated name gets a counter."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.used: set[str] = set()

    def __call__(self, *name: str) -> str:
        base = "\x1f".join((self.seed, *name))
        value = _uuid5(base)
        n = 1
        while value in self.used:
            n += 1
            value = _uuid5(f"{base}\x1f{n}")
        self.used.add(value)
        return value


def _uuid5(name: str) -> str:
    """`str(uuid.uuid5(UUID_NAMESPACE, name))` without building UUID objects (a third of the time per finding)."""
    digest = bytearray(hashlib.sha1(UUID_NAMESPACE.bytes + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def run_seed(result: ScanResult, meta: RunMetadata, fingerprints: Mapping[int, str]) -> str:
    """What makes this scan this scan: inputs' bytes, catalog, tool version, findings. Not the time.
    `result` is the redacted one: no id may be derived from a value the document masks (the inputs' SHA-256
    are in the document anyway)."""
    return content_digest({
        "inputs": sorted(i.get("sha256", "") for i in meta.inputs), "catalog": meta.catalog_digest,
        "tool": meta.version, "checks": sorted(meta.checks),
        "findings": sorted(f"{fingerprints[id(f)]}:{int(f.suppressed)}" for f in result.findings)})


def _location(ref: ResourceRef) -> str:
    return ref.file if ref.file.startswith("cluster:") or not ref.line else f"{ref.file}:{ref.line}"


def _inventory_item(ref: ResourceRef, item_uuid: str) -> dict[str, Any]:
    """The object as an inventory item; a field the object lacks (a config file has no name) is left out."""
    fields = (("api-version", ref.api_version), ("kind", ref.kind), ("namespace", ref.namespace),
              ("namespace-assumed", "true" if ref.namespace and ref.namespace_assumed else ""),
              ("name", ref.name), ("location", _location(ref)))
    return {"uuid": item_uuid, "description": f"Kubernetes {ref.display} ({_location(ref)})",
            "props": [_prop(k, v) for k, v in fields if v]}


def _evidence_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str).decode()


def _observation(f: Finding, fingerprint: str, obs_uuid: str, item_uuid: str, tool_uuid: str,
                 when: str) -> dict[str, Any]:
    props = [_prop("rule-id", f.check_id), _prop("severity", f.severity.label), _prop("fingerprint", fingerprint),
             _prop("status", "suppressed" if f.suppressed else "open")]
    if f.suppressed and f.suppression:
        props += [_prop(f"exception-{k}", v) for k, v in sorted(f.suppression.items())
                  if k in ("owner", "expires") and v]
    evidence = [{"description": f"{e.path or '(object)'} = {_evidence_value(e.value)}",
                 "props": [_prop("field", e.path or "(object)"), _prop("redacted", str(e.redacted).lower())]}
                for e in f.evidence]
    obs: dict[str, Any] = {
        "uuid": obs_uuid, "title": _line(f"{f.check_id} {f.title}"), "description": f.message or f.title,
        "props": props, "methods": ["TEST"], "types": ["finding"],
        "origins": [{"actors": [{"type": "tool", "actor-uuid": tool_uuid}]}],
        "subjects": [{"subject-uuid": item_uuid, "type": "inventory-item", "title": _line(f.resource.display)}],
        "collected": when,
    }
    if evidence:
        obs["relevant-evidence"] = evidence
    if f.remediation:
        obs["remarks"] = f"Remediation: {f.remediation}"
    return obs


def _finding(pc: ParagraphCoverage, finding_uuid: str, related: list[str], tool_uuid: str) -> dict[str, Any]:
    para = pc.paragraph
    props = [_prop("assessment-state", pc.state), _prop("requirement", pc.requirement),
             _prop("safeguard", para.safeguard), _prop("paragraph", para.id)]
    if pc.partial:
        props.append(_prop("partial", "true"))
    props += [_prop(f"rule-{rc.relation}", f"{rc.rule_id} {rc.outcome.state}") for rc in pc.rules]
    remarks = []
    if pc.state == "not-assessed":
        remarks.append("Not assessed by this scan; OSCAL has no 'not assessed' state, so the objective is "
                       "recorded as not-satisfied (prop assessment-state=not-assessed).")
    elif pc.state == "attestation-required":
        remarks.append("No automated rule can evidence this paragraph: the organisation must attest to it. "
                       "Recorded as not-satisfied until attested (prop assessment-state=attestation-required).")
    elif pc.partial:
        remarks.append("Passed on the rules that were assessed; others behind it were not assessed.")
    if pc.reasons:
        remarks.append("Reasons: " + "; ".join(redact_text(r) for r in pc.reasons) + ".")
    target: dict[str, Any] = {
        "type": "objective-id", "target-id": control_id(para.id), "title": _line(para.title),
        "status": {"state": STATUS[pc.state], "reason": REASON[pc.state]},
    }
    if remarks:
        target["remarks"] = " ".join(remarks)
    out: dict[str, Any] = {
        "uuid": finding_uuid, "title": _line(para.title), "description": para.evidence, "props": props,
        "origins": [{"actors": [{"type": "tool", "actor-uuid": tool_uuid}]}], "target": target,
    }
    if related:
        out["related-observations"] = [{"observation-uuid": u} for u in related]
    return out


def _rules_behind(pc: ParagraphCoverage, cov: Coverage) -> list[str]:
    """The rules whose findings decide `pc`: its own, or, for a standard that takes its state from its
    implementation specifications (no rule cites it), theirs."""
    if pc.rules:
        return [rc.rule_id for rc in pc.rules]
    children = load_hipaa().children.get(pc.id, ())
    return list(dict.fromkeys(rc.rule_id for c in cov.paragraphs if c.id in children and c.id != pc.id
                              for rc in c.rules))


def _input_resource(record: Mapping[str, Any], res_uuid: str) -> dict[str, Any]:
    name = redact_text(str(record.get("name", "")))
    return {"uuid": res_uuid, "title": _line(f"Input: {name}"),
            "description": f"An input the scan read ({record.get('bytes', 0)} bytes).",
            "props": [_prop("type", "scanned-input"), _prop("bytes", record.get("bytes", 0))],
            "rlinks": [{"href": quote(name, safe="/") or "input",
                        "hashes": [{"algorithm": "SHA-256", "value": str(record.get("sha256", ""))}]}]}


def assessment_results(result: ScanResult, argv: Iterable[str] = (), *, when: str | None = None,
                       proposed_rule: bool = False) -> dict[str, Any]:
    """The OSCAL document (a dict: `{"assessment-results": ...}`) for a scan result."""
    cov: Coverage = scan_coverage(result, proposed_rule=proposed_rule)
    redacted = redact_result(result)
    meta = run_metadata(result, list(argv), when)
    fingerprints = {id(f): f.fingerprint for f in redacted.findings}
    ids = _Ids(run_seed(redacted, meta, fingerprints))
    tool_uuid, platform_uuid = ids("component", "kubehipaa"), ids("platform", "kubehipaa")
    plan_uuid, catalog_uuid = ids("resource", "assessment-plan"), ids("resource", "catalog")

    items: dict[tuple[Any, ...], str] = {}
    inventory: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    by_rule: dict[str, list[str]] = {}
    for f in redacted.findings:
        r = f.resource
        key = (r.api_version, r.kind, r.namespace, r.name, r.file, r.line)
        item_uuid = items.get(key)
        if item_uuid is None:
            item_uuid = items[key] = ids("inventory-item", *map(str, key))
            inventory.append(_inventory_item(r, item_uuid))
        fingerprint = fingerprints[id(f)]
        obs_uuid = ids("observation", fingerprint)
        observations.append(_observation(f, fingerprint, obs_uuid, item_uuid, tool_uuid, meta.generated_at))
        by_rule.setdefault(f.check_id, []).append(obs_uuid)

    findings = [_finding(pc, ids("finding", pc.id), [u for r in _rules_behind(pc, cov) for u in by_rule.get(r, ())],
                         tool_uuid)
                for pc in cov.paragraphs]
    score = cov.score()
    result_props = [_prop("score-percent", "none" if score.percent is None else score.percent),
                    _prop("paragraphs-passed", score.passed), _prop("paragraphs-failed", score.failed),
                    _prop("paragraphs-not-assessed", score.not_assessed),
                    _prop("paragraphs-attestation-required", score.attestation),
                    _prop("objects", meta.objects), _prop("fingerprint-version", meta.fingerprint_version)]
    if meta.command_line:
        result_props.append(_prop("command-line", " ".join(meta.command_line)))
    if cov.proposed_rule:
        result_props.append(_prop("proposed-rule", "true"))
    tool = {"uuid": tool_uuid, "type": "software", "title": meta.tool,
            "description": f"{meta.tool} {meta.version}: HIPAA checks over Kubernetes manifests and clusters.",
            "props": [_prop("version", meta.version, ours=False)],
            "links": [{"href": INFORMATION_URI, "rel": "homepage"}],
            "status": {"state": "operational"}}
    local: dict[str, Any] = {
        "assessment-assets": {"components": [tool], "assessment-platforms": [
            {"uuid": platform_uuid, "title": meta.tool, "uses-components": [{"component-uuid": tool_uuid}]}]},
    }
    if inventory:
        local["inventory-items"] = inventory
    resources = [
        {"uuid": plan_uuid, "title": "Assessment plan (implicit)",
         "description": (f"{meta.tool} has no separate assessment plan document: the plan is the HIPAA catalog "
                         f"({meta.catalog_name}, version {meta.catalog_version}) and the {len(meta.checks)} "
                         f"checks this scan ran over its inputs, all recorded in this document."),
         "props": [_prop("type", "plan")]},
        {"uuid": catalog_uuid, "title": _line(f"Catalog: {meta.catalog_name}"),
         "description": "The kubehipaa HIPAA Security Rule catalog (paragraphs, Required/Addressable, rules).",
         "props": [_prop("type", "catalog"), _prop("version", meta.catalog_version)],
         "rlinks": [{"href": "kubehipaa/frameworks/hipaa.yaml",
                     "hashes": [{"algorithm": "SHA-256", "value": meta.catalog_digest or "unknown"}]}]},
        *(_input_resource(rec, ids("resource", "input", str(rec.get("name")), str(rec.get("sha256"))))
          for rec in meta.inputs),
    ]
    doc: dict[str, Any] = {
        "uuid": ids("assessment-results"),
        "metadata": {"title": "kubehipaa HIPAA Security Rule assessment results",
                     "last-modified": meta.generated_at, "version": meta.version, "oscal-version": OSCAL_VERSION,
                     "props": [_prop("tool", f"{meta.tool} {meta.version}")]},
        "import-ap": {"href": f"#{plan_uuid}",
                      "remarks": "Points at the back-matter resource describing the implicit plan."},
        "results": [{
            "uuid": ids("result"), "title": "kubehipaa scan",
            "description": f"Automated scan of {meta.objects} Kubernetes objects against the HIPAA Security Rule "
                           f"(45 CFR 164.308, 164.310, 164.312, 164.316).",
            "start": meta.generated_at, "end": meta.generated_at, "props": result_props,
            "local-definitions": local,
            "reviewed-controls": {"control-selections": [{
                "description": "Every paragraph of the catalog in 164.308, 164.310, 164.312 and 164.316.",
                "include-controls": [{"control-id": control_id(pc.id)} for pc in cov.paragraphs]}]},
            "observations": observations, "findings": findings,
        }],
        "back-matter": {"resources": resources},
    }
    if not observations:
        del doc["results"][0]["observations"]  # OSCAL arrays are never empty
    if redacted.warnings:  # blind spots and lost input: the assessment saw less than the inputs named
        doc["results"][0]["remarks"] = " ".join(f"Warning [{w.code}]: {_line(w.message)}" for w in redacted.warnings)
    return {"assessment-results": doc}


def render_oscal(result: ScanResult, argv: Iterable[str] = ()) -> str:
    """The document as JSON text; checked with trestle's models first when the `oscal` extra is installed, so a
    document a GRC tool would reject is our bug (exit 3), never a file handed to an auditor.

    Not passed through `redact_tree` again as the other JSON reports are: every string from the input was
    redacted where it was taken (`redact_result`, the inputs' names, the reasons), and a second pass over the
    whole tree would mask digit runs inside UUIDs and SHA-256 values (an NPI-shaped run), breaking the
    document's references and hashes."""
    doc = assessment_results(result, argv)
    if trestle_validates():
        validate(doc)
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"


def trestle_validates() -> bool:
    """True when compliance-trestle is installed and validates our OSCAL line (trestle 4+ speaks only 1.2)."""
    try:
        from trestle import oscal
    except ImportError:
        return False
    return re.fullmatch(getattr(oscal, "OSCAL_VERSION_REGEX", r"$^"), OSCAL_VERSION) is not None


def validate(doc: Mapping[str, Any]) -> None:
    """Check `doc` with compliance-trestle's `AssessmentResults` (the `oscal` extra); raises ValueError (pydantic's
    ValidationError) on a document OSCAL tools would reject, ImportError when trestle is not installed."""
    from trestle.oscal.assessment_results import AssessmentResults

    AssessmentResults.parse_obj(doc["assessment-results"])
