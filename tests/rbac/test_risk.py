"""Risk-rule catalog: validation (schema, duplicate keys, ids, requests) and evaluation."""

from __future__ import annotations

import json

import pytest

from kubehipaa.engines.rbac import RbacIndex
from kubehipaa.engines.rbac.risk import builtin_risk_rules, evaluate_risks, load_risk_rules
from kubehipaa.errors import InputError
from kubehipaa.model import Severity
from tests.rbac.helpers import crb, crole, group, rb, rule, sa

GOOD = """\
version: 1
rules:
  - id: RR-900
    title: Create pods
    kind: permission
    severity: medium
    any_of: [["create pods"]]
    why: test
"""


def test_builtin_catalog_is_valid_and_complete() -> None:
    rules = builtin_risk_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    kinds = {r.kind for r in rules}
    assert kinds == {"permission", "aggregate-label", "missing-role", "missing-subject"}
    titles = " ".join(r.title.lower() for r in rules)
    for needle in ("pods or workloads", "nodes", "token", "certificate", "webhook", "impersonate", "bindings"):
        assert needle in titles


def test_builtin_catalog_matches_its_schema_and_the_full_loading_path() -> None:
    """The packaged catalog is loaded without the JSON Schema at run time (speed); here it is held to it, and
    the fast path (libyaml, no schema) gives exactly what loading the same text as a user's file gives."""
    from importlib import resources

    import jsonschema
    import yaml

    text = resources.files("kubehipaa.engines.rbac").joinpath("risk_rules.yaml").read_text(encoding="utf-8")
    schema = json.loads(resources.files("kubehipaa.engines.rbac").joinpath("risk_rules.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(text))
    assert load_risk_rules() == load_risk_rules(text)
    assert tuple(load_risk_rules()) == builtin_risk_rules()


def test_builtin_catalog_loader_still_refuses_duplicate_keys() -> None:
    from kubehipaa.engines.rbac.risk import _CUniqueKeyLoader

    with pytest.raises(InputError, match="duplicate key 'why'"):
        yaml_load = __import__("yaml").load
        yaml_load(GOOD.replace("    why: test\n", "    why: test\n    why: again\n"), Loader=_CUniqueKeyLoader)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("    why: test\n", "    why: test\n    why: again\n"), "duplicate key 'why'"),
        (GOOD.replace("kind: permission", "kind: permission\n    colour: red"), "colour"),
        (GOOD.replace("severity: medium", "severity: urgent"), "severity: must be one of"),
        (GOOD.replace("RR-900", "R-1"), "rules/0/id: does not match"),
        (GOOD.replace('[["create pods"]]', '[["create"]]'), "does not match"),
        (GOOD.replace("    any_of: [[\"create pods\"]]\n", ""), "any_of"),
        (GOOD + GOOD.split("rules:\n")[1], "duplicate rule id RR-900"),
        (GOOD.replace('"create pods"', '"create pods/"'), "empty subresource"),
    ],
)
def test_invalid_catalogs_are_rejected(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        load_risk_rules(text, "rules.yaml")
    assert message in str(err.value)
    assert "rules.yaml" in str(err.value)


def _hits(objs, phi=()):  # type: ignore[no-untyped-def]
    return evaluate_risks(RbacIndex.from_objects(objs), phi)


def test_permission_rule_respects_binding_scope() -> None:
    cr = crole("np", rule(["get"], ["nodes/proxy"]))
    via_crb = _hits([cr, crb("b", "np", group("g"))])
    assert any(h.rule.id == "RR-007" for h in via_crb)
    via_rb = _hits([cr, rb("b", "ns", "ClusterRole", "np", group("g"))])
    assert not any(h.rule.id == "RR-007" for h in via_rb)


def test_all_of_requests_needed_for_csr_rule() -> None:
    create_only = crole("c", rule(["create"], ["certificatesigningrequests"], ["certificates.k8s.io"]))
    both = crole("c", rule(["create"], ["certificatesigningrequests"], ["certificates.k8s.io"]),
                 rule(["update"], ["certificatesigningrequests/approval"], ["certificates.k8s.io"]),
                 rule(["approve"], ["signers"], ["certificates.k8s.io"], names=["kubernetes.io/kube-apiserver-client"]))
    assert not any(h.rule.id == "RR-009" for h in _hits([create_only, crb("b", "c", group("g"))]))
    assert any(h.rule.id == "RR-009" for h in _hits([both, crb("b", "c", group("g"))]))


def test_severity_raised_in_phi_and_kube_system() -> None:
    cr = crole("mk", rule(["create"], ["pods"]))
    plain = _hits([cr, rb("b", "web", "ClusterRole", "mk", group("g"))], phi=["clinical"])
    phi = _hits([cr, rb("b", "clinical", "ClusterRole", "mk", group("g"))], phi=["clinical"])
    ks = _hits([cr, rb("b", "kube-system", "ClusterRole", "mk", group("g"))])
    pick = lambda hs: next(h for h in hs if h.rule.id == "RR-006")  # noqa: E731
    assert pick(plain).severity == Severity.HIGH
    assert pick(phi).severity == Severity.CRITICAL and pick(phi).elevated
    assert pick(ks).severity == Severity.CRITICAL


def test_missing_role_and_subject_and_aggregate_label() -> None:
    objs = [
        rb("dangling", "app", "Role", "ghost", group("g")),
        rb("builtin", "app", "ClusterRole", "view", group("g")),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "real", "namespace": "app"}},
        rb("sa", "app", "ClusterRole", "view", sa("real"), sa("ghost")),
        crole("extra", rule(["get"], ["widgets"], ["example.com"]),
              labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true"}),
    ]
    hits = _hits(objs)
    by_rule = {}
    for h in hits:
        by_rule.setdefault(h.rule.id, []).append(h)
    assert [h.binding.name for h in by_rule["RR-014"]] == ["dangling"]
    assert len(by_rule["RR-015"]) == 1 and "ghost" in by_rule["RR-015"][0].message
    assert by_rule["RR-013"][0].role is not None and by_rule["RR-013"][0].role.name == "extra"


def test_rolebinding_counts_for_cluster_scoped_requests_asked_in_its_namespace() -> None:
    # The API server checks `bind clusterroles X` in the namespace of the RoleBinding being written, so a
    # RoleBinding allowing it is a working bind grant there. `escalate` on a ClusterRole and nodes/proxy are
    # asked without a namespace: a RoleBinding allowing them grants nothing.
    rbac_api = ["rbac.authorization.k8s.io"]
    objs = [crole("binder", rule(["bind"], ["clusterroles"], rbac_api, names=["edit"])),
            crole("esc", rule(["escalate"], ["clusterroles"], rbac_api)), crole("np", rule(["get"], ["nodes/proxy"])),
            rb("binder", "ops", "ClusterRole", "binder", group("leads")), rb("esc", "ops", "ClusterRole", "esc",
                                                                             group("leads")),
            rb("np", "ops", "ClusterRole", "np", group("leads"))]
    fired = {(h.rule.id, h.binding.name) for h in _hits(objs) if h.binding is not None}
    assert ("RR-003", "binder") in fired
    assert ("RR-003", "esc") not in fired and ("RR-007", "np") not in fired
