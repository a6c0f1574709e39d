"""One rule model (frameworks/rules.py): every registry validates its rules the same way when it registers them.

The four registries: scanner checks (`@check`), audit-log detections (`catalog._add`), RBAC risk rules
(`load_risk_rules`, built-in or a user's `--rules` file) and Sigma rules (`SigmaRuleSet`, when loaded). Each must
refuse a paragraph the HIPAA catalog does not have; built-in registries raise `RuleError` (a bug, at import), user
files raise `InputError` naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubehipaa.checks.registry import REGISTRY, all_checks, check
from kubehipaa.engines.auditlog import (
    RULES,
    Detector,
    Rule,
    SigmaRuleSet,
    catalog_rules,
    event_from_dict,
    with_sigma,
)
from kubehipaa.engines.auditlog import catalog as audit_catalog
from kubehipaa.engines.rbac.risk import DEFAULT_HIPAA, builtin_risk_rules, load_risk_rules
from kubehipaa.errors import InputError
from kubehipaa.frameworks import load_hipaa
from kubehipaa.frameworks.rules import (
    REVIEW_REMEDIATION,
    SIGMA_HIPAA,
    RuleError,
    RuleMeta,
    problems,
    validate,
)
from kubehipaa.model import Severity
from kubehipaa.pipelines.audit import read_sigma_rules
from tests.conftest import ROOT

NOT_IN_CATALOG = "164.312(e)(9)"
"""Shaped like a Security Rule paragraph (the old regex accepted it) but not one: the catalog has (e)(1), (e)(2)."""
PRIVACY_RULE = "164.502(b)"
"""Minimum necessary: a Privacy Rule paragraph, outside the Security Rule catalog."""


def _meta(**changes: object) -> RuleMeta:
    good = RuleMeta(id="KH-AUDLOG-999", title="t", severity=Severity.LOW, hipaa=("164.312(b)",),
                    remediation="do this", family="audit")
    return dataclasses.replace(good, **changes)  # type: ignore[arg-type]


# -- the validator ----------------------------------------------------------------------------------------


def test_a_valid_rule_passes() -> None:
    meta = _meta()
    assert validate(meta) is meta and problems(meta) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "KH-AUDLOG-1"}, "does not match KH-AUDLOG-<NNN>"),
        ({"id": "KH-WL-001"}, "does not match KH-AUDLOG-<NNN>"),  # a check id is not an audit-rule id
        ({"family": "check", "id": "KH-AUDLOG-001"}, "does not match KH-<AREA>-<NNN>"),
        ({"family": "rbac-risk", "id": "RR-01"}, "does not match RR-<NNN>"),
        ({"family": "sigma", "id": "sigma: "}, "does not match sigma:<Sigma rule id>"),
        ({"family": "pss"}, "unknown rule family"),
        ({"severity": 3}, "severity 3 is not one of"),
        ({"severity": "high"}, "severity 'high' is not one of"),
        ({"remediation": ""}, "has no remediation"),
        ({"remediation": "  "}, "has no remediation"),
        ({"title": ""}, "has no title"),
        ({"hipaa": ()}, "names no HIPAA Security Rule paragraph"),
        ({"hipaa": (NOT_IN_CATALOG,)}, f"cites '{NOT_IN_CATALOG}', which is not a paragraph"),
        ({"hipaa": (PRIVACY_RULE,)}, f"cites '{PRIVACY_RULE}', which is not a paragraph"),
        ({"hipaa": ("164.308(a)(7)",)}, "cite 164.308(a)(7)(i), the catalog's id for it"),
        ({"hipaa": ("164.312(b)", "164.312(b)")}, "cites 164.312(b) twice"),
        ({"relation": "proves"}, "relation 'proves'"),
    ],
)
def test_the_validator_refuses_bad_metadata(changes: dict[str, object], message: str) -> None:
    meta = _meta(**changes)
    with pytest.raises(RuleError, match=r"^" + str(meta.id).replace("(", r"\(")) as err:
        validate(meta)
    assert message in str(err.value)


# -- each registry refuses at registration ------------------------------------------------------------------


def _register_check(**changes: object) -> None:
    args: dict[str, object] = {"id": "KH-TST-998", "title": "t", "area": "test", "severity": Severity.LOW,
                               "hipaa": ("164.312(b)",), "remediation": "do this", **changes}
    check(**args)(lambda inv: iter(()))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hipaa": (NOT_IN_CATALOG,)}, "not a paragraph of the HIPAA Security Rule catalog"),
        ({"remediation": ""}, "has no remediation"),
        ({"severity": "high"}, "severity 'high'"),
        ({"id": "KH-TST-1"}, "does not match KH-<AREA>-<NNN>"),
        ({"phi_severity": "critical"}, "phi_severity"),
    ],
)
def test_check_registry_refuses_invalid_metadata(changes: dict[str, object], message: str) -> None:
    before = dict(REGISTRY)
    with pytest.raises(RuleError, match=message):
        _register_check(**changes)
    assert before == REGISTRY


def _audit_rule(**changes: object) -> Rule:
    args: dict[str, object] = {"id": "KH-AUDLOG-998", "title": "t", "severity": Severity.LOW,
                               "hipaa": ("164.312(b)",), "logic": "l", "match": lambda ev, cfg: None, **changes}
    return Rule(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hipaa": (PRIVACY_RULE,)}, "not a paragraph of the HIPAA Security Rule catalog"),
        ({"hipaa": (NOT_IN_CATALOG,)}, "not a paragraph of the HIPAA Security Rule catalog"),
        ({"severity": 2}, "severity 2"),
        ({"id": "KH-AUD-998"}, "does not match KH-AUDLOG-<NNN>"),
        ({"id": "KH-AUDLOG-001"}, "duplicate audit-log rule id"),
    ],
)
def test_audit_rule_registry_refuses_invalid_metadata(changes: dict[str, object], message: str) -> None:
    before = list(audit_catalog.RULES)
    with pytest.raises(RuleError, match=message):
        audit_catalog._add(_audit_rule(**changes))
    assert before == audit_catalog.RULES


def test_an_audit_rule_without_remediation_states_the_review_default() -> None:
    """The metadata has a remediation; the rule's own field (shown in reports only when set) stays empty."""
    rule = _audit_rule()
    assert rule.remediation == "" and rule.meta.remediation == REVIEW_REMEDIATION
    assert "remediation" not in rule.to_dict()
    assert validate(rule.meta).family == "audit"


RISK = """\
version: 1
rules:
  - id: RR-900
    title: Create pods
    kind: permission
    severity: medium
    any_of: [["create pods"]]
    why: test
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (f"    hipaa: ['{NOT_IN_CATALOG}']\n", f"rules/0: RR-900: cites '{NOT_IN_CATALOG}', which is not a paragraph"),
        (f"    hipaa: ['{PRIVACY_RULE}']\n", f"cites '{PRIVACY_RULE}', which is not a paragraph"),
        ("    hipaa: ['164.308(a)(4)']\n", "cite 164.308(a)(4)(i)"),
        ("    hipaa: []\n", "hipaa"),
        ("    remediation: ''\n", "remediation"),
    ],
)
def test_risk_rule_catalog_refuses_invalid_metadata(extra: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        load_risk_rules(RISK + extra, "mine.yaml")
    assert message in str(err.value) and "mine.yaml" in str(err.value)


def test_risk_rules_of_a_user_catalog_get_the_documented_defaults() -> None:
    (rule,) = load_risk_rules(RISK, "mine.yaml")
    assert rule.hipaa == DEFAULT_HIPAA and rule.remediation and rule.description == "test"
    assert rule.meta is rule and rule.family == "rbac-risk"
    (cited,) = load_risk_rules(RISK + "    hipaa: ['164.312(d)']\n    remediation: Do not.\n", "mine.yaml")
    assert cited.hipaa == ("164.312(d)",) and cited.remediation == "Do not."


def test_the_builtin_risk_catalog_states_paragraphs_and_remediation_for_every_rule() -> None:
    """No built-in rule leans on the defaults meant for users' catalogs."""
    path = ROOT / "src" / "kubehipaa" / "engines" / "rbac" / "risk_rules.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
    assert [r["id"] for r in raw if not r.get("hipaa") or not r.get("remediation")] == []
    assert {r.id: r.hipaa for r in builtin_risk_rules()} == {r["id"]: tuple(r["hipaa"]) for r in raw}


SIGMA = """\
title: Secrets listed
id: 0b4a4b8e-7c0e-4c59-9d6e-2a4d1a0f0002
status: test
level: high
{tags}logsource: {{product: kubernetes, service: audit}}
detection:
  sel:
    verb: list
    objectRef.resource: secrets
  condition: sel
"""


@pytest.mark.parametrize("tag", [f"hipaa.{NOT_IN_CATALOG}", f"hipaa.{PRIVACY_RULE}"])
def test_sigma_rule_citing_an_unknown_paragraph_is_refused_when_loaded(tmp_path: Path, tag: str) -> None:
    rule = tmp_path / "rules" / "bad.yml"
    rule.parent.mkdir()
    rule.write_text(SIGMA.format(tags=f"tags: [attack.t1552, '{tag}']\n"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_sigma_rules([rule.parent])
    text = str(err.value)
    assert "bad.yml" in text and "Secrets listed" in text and "not a paragraph of the HIPAA" in text


def _list_secrets() -> dict[str, object]:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a-1", "stage": "ResponseComplete",
            "verb": "list", "user": {"username": "jane@hospital.org"}, "sourceIPs": ["10.0.0.9"],
            "objectRef": {"resource": "secrets", "namespace": "clinical", "apiVersion": "v1"},
            "requestURI": "/api/v1/namespaces/clinical/secrets", "responseStatus": {"code": 200},
            "requestReceivedTimestamp": "2026-11-20T10:00:00Z"}


def _sigma_hipaa(tags: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the alert's paragraphs, the catalog rule's paragraphs) for the rule with these tags."""
    rules = SigmaRuleSet.from_yaml(SIGMA.format(tags=tags))
    (alert,) = [a for a in with_sigma(Detector(rules=[]), rules, register=False).process_all(
        [event_from_dict(_list_secrets())])]
    (rule,) = catalog_rules(rules)
    assert validate(rule.meta).family == "sigma" and rule.meta.remediation == REVIEW_REMEDIATION
    return alert.hipaa, rule.hipaa


def test_sigma_rule_without_hipaa_tags_gets_the_default_mapping() -> None:
    assert _sigma_hipaa("tags: [attack.t1552]\n") == (SIGMA_HIPAA, SIGMA_HIPAA)
    assert all(p in load_hipaa() for p in SIGMA_HIPAA)


def test_sigma_hipaa_tags_name_the_paragraphs_in_the_catalogs_spelling() -> None:
    """Sigma tags are lower case by convention; an alias is cited by its catalog id."""
    tags = "tags: [attack.t1552, hipaa.164.312(a)(1), hipaa.164.308(a)(1)(ii)(d), hipaa.164.308(a)(4)]\n"
    expected = ("164.312(a)(1)", "164.308(a)(1)(ii)(D)", "164.308(a)(4)(i)")
    assert _sigma_hipaa(tags) == (expected, expected)


# -- the built-in registries as they are --------------------------------------------------------------------


def test_every_builtin_rule_passes_the_one_validator() -> None:
    metas = [*(c.meta for c in all_checks()), *(r.meta for r in RULES), *builtin_risk_rules()]
    assert len(metas) > 150
    assert [(m.id, problems(m)) for m in metas if problems(m)] == []
    assert {m.family for m in metas} == {"check", "audit", "rbac-risk"}


def test_audit_rules_cite_only_security_rule_paragraphs() -> None:
    """164.502(b) (the Privacy Rule's minimum necessary) is not a Security Rule paragraph; the detections that cited
    it now cite the Security Rule paragraphs for what they detect."""
    catalog = load_hipaa()
    assert [r.id for r in RULES if PRIVACY_RULE in r.hipaa] == []
    assert [(r.id, p) for r in RULES for p in r.hipaa if p not in catalog.paragraphs] == []
    by_id = {r.id: r.hipaa for r in RULES}
    assert by_id["KH-AUDLOG-003"] == ("164.312(a)(1)", "164.308(a)(4)(ii)(B)", "164.308(a)(4)(ii)(C)")
    assert by_id["KH-AUDLOG-021"] == ("164.312(a)(1)", "164.308(a)(1)(ii)(D)")
    assert by_id["KH-AUDLOG-080"] == ("164.312(b)", "164.312(a)(1)", "164.312(a)(2)(iv)")


def test_audit_log_doc_cites_what_the_rules_cite() -> None:
    """docs/audit-log.md's table is written by hand: its HIPAA column must say what each rule's metadata says."""
    doc = (ROOT / "docs" / "audit-log.md").read_text(encoding="utf-8")
    rows = {cells[1]: cells[4] for line in doc.splitlines()
            if line.startswith("| KH-AUDLOG-") and len(cells := [c.strip() for c in line.split("|")]) > 5}
    assert {r.id: rows.get(r.id) for r in RULES} == {r.id: ", ".join(r.hipaa) for r in RULES}


def test_building_the_audit_catalog_reads_no_yaml() -> None:
    """The rule validator reads the generated paragraph index, so `audit analyze` start-up stays free of YAML and
    of the pydantic catalog model."""
    probe = "import json, sys, kubehipaa.engines.auditlog; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    modules = set(json.loads(proc.stdout))
    assert "kubehipaa.frameworks.rules" in modules
    assert not {"yaml", "kubehipaa.frameworks.hipaa"} & modules
