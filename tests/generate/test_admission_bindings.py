"""Issue 18 req 5 + req 2: the generated ValidatingAdmissionPolicyBindings enforce Deny or Warn per rule and per
namespace exactly as the webhook's table does (`pipelines.admission.admission_actions` over the `admission:`
block), and configurable lists reach the policies through `paramKind` (a ConfigMap the generator writes).

Agreement is checked three ways: the bindings against `admission_actions` for every namespace class (PHI by
name, PHI by labels, other, per-namespace entries, cluster scope), against the webhook's own `review()` on the
same objects, and through `admission test` with the params read from the generated file.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from typer.testing import CliRunner

pytest.importorskip("celpy", reason="cel-python (the `admission` extra) is not installed")

from kubehipaa.cli.main import app
from kubehipaa.config import Config, parse_config
from kubehipaa.engines.cel import CompiledPolicy, ObjectContext, compile_policies, evaluate_object
from kubehipaa.errors import ConfigError
from kubehipaa.generate.admission_policies import (
    ADMISSION_TRANSLATIONS,
    PARAMS_NAME,
    TRANSLATIONS,
    PolicyOptions,
    admission_policies,
    options_from_config,
)
from kubehipaa.pipelines.admission import Policy, admission_actions, review
from tests.admission.support import review as review_body

runner = CliRunner()
VERSIONS = sorted((v for v in all_versions() if int(v.split(".")[1]) >= 30), key=lambda v: int(v.split(".")[1]))
PHI = {"kubehipaa.io/phi": "true"}
IDS = {t.check_id for t in (*TRANSLATIONS, *ADMISSION_TRANSLATIONS)}

CONFIG: dict[str, Any] = {
    "phi": {"namespaces": ["clinical", "billing"]},
    "admission": {
        "other": {"deny": ["KH-WL-001"]},
        "phi": {"warn": ["KH-NET-007"], "ignore": ["KH-WL-003"]},
        "namespaces": [
            {"namespace": "legacy", "ignore": ["KH-WL-*"]},
            {"namespace": "billing", "warn": ["KH-WL-002"]},
            {"namespace": "sandbox-*", "ignore": ["KH-SEC-*"]},  # a glob that changes no translated rule
        ],
        "requiredLabels": ["app.kubernetes.io/name", "owner"],
    },
}

# ---- objects that violate every translated rule of their kind ------------------------------------------------


def _bad_pod(ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": ns},
            "spec": {"hostPID": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
                     "securityContext": {"runAsUser": 0},
                     "containers": [{"name": "c", "image": "nginx:latest",
                                     "securityContext": {"privileged": True, "allowPrivilegeEscalation": True,
                                                         "capabilities": {"add": ["SYS_ADMIN"]}}}]}}


def _bad_deployment(ns: str) -> dict[str, Any]:
    pod = _bad_pod(ns)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "dep", "namespace": ns, "labels": {"app.kubernetes.io/name": "dep"}},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod["spec"]}}}


def _namespaced(ns: str) -> list[dict[str, Any]]:
    rbac = "rbac.authorization.k8s.io"
    return [
        _bad_pod(ns),
        _bad_deployment(ns),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np", "namespace": ns},
         "spec": {"type": "NodePort", "ports": [{"port": 80}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb", "namespace": ns},
         "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing", "namespace": ns},
         "spec": {"rules": [{"host": "ehr.example.org"}]}},
        {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": {"name": "wild", "namespace": ns},
         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": ns},
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "User", "name": "jane@hospital.example", "apiGroup": rbac},
                      {"kind": "Group", "name": "system:authenticated", "apiGroup": rbac}]},
    ]


def _cluster() -> list[dict[str, Any]]:
    rbac = "rbac.authorization.k8s.io"
    return [
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": {"name": "wild"},
         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "User", "name": "jane@hospital.example", "apiGroup": rbac}]},
    ]


# ---- helpers ---------------------------------------------------------------------------------------------------


def _options(cfg: Config, **kw: Any) -> PolicyOptions:
    return options_from_config(cfg, partial(admission_actions, cfg), **kw)


def _compile(docs: list[dict[str, Any]]) -> list[CompiledPolicy]:
    return compile_policies(docs)


def _vap(policies: list[CompiledPolicy], obj: dict[str, Any], ns: str | None,
         labels: dict[str, str] | None = None) -> dict[str, str]:
    """{rule: deny | warn} the bindings give `obj`; each policy answers through at most one binding."""
    seen: dict[str, str] = {}
    for d in evaluate_object(policies, obj, ObjectContext(ns, labels or {})):
        if d.verdict == "skip" or not d.check_id:
            continue
        assert d.check_id not in seen, f"{d.check_id}: two bindings match {obj['kind']} in {ns}"
        seen[d.check_id] = d.verdict
    assert "error" not in seen.values(), seen
    return {k: v for k, v in seen.items() if v in ("deny", "warn")}


def _fired(obj: dict[str, Any], ns: str | None, cfg: Config) -> set[str]:
    """The rules `obj` violates (every policy bound with Deny everywhere, the config's lists)."""
    params = {"requiredLabels": tuple(cfg.admission.required_labels)}
    legacy = _compile(admission_policies(PolicyOptions(params=params), {}))
    return set(_vap(legacy, obj, ns))


def _webhook(cfg: Config, obj: dict[str, Any], ns: str | None) -> dict[str, str]:
    d = review(review_body(obj, namespace=ns or ""), Policy(cfg))
    out = {r: "warn" for r in d.warned if r in IDS}
    out.update({r: "deny" for r in d.denied if r in IDS})
    return out


NAMESPACES = [
    # (namespace, its labels, PHI by the config's definition, PHI to the webhook (which sees no labels))
    ("clinical", {}, True, True),         # PHI by name
    ("billing", {}, True, True),          # PHI by name, with an admission.namespaces entry
    ("legacy", {}, False, False),         # an entry, not PHI
    ("legacy", PHI, True, False),         # an entry, PHI by its labels
    ("team-a", {}, False, False),         # the rest
    ("research", PHI, True, False),       # PHI by labels only
    ("sandbox-1", {}, False, False),      # matched by a glob entry that changes no translated rule
]


# ---- per-rule actions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ns", "labels", "phi", "webhook_phi"), NAMESPACES,
                         ids=[f"{n}{'-labelled' if lb else ''}" for n, lb, _, _ in NAMESPACES])
def test_bindings_give_the_webhooks_action_per_rule_and_namespace(ns: str, labels: dict[str, str], phi: bool,
                                                                  webhook_phi: bool) -> None:
    cfg = parse_config(CONFIG)
    policies = _compile(admission_policies(_options(cfg), {}))
    table = admission_actions(cfg, phi, ns)
    for obj in _namespaced(ns):
        fired = _fired(obj, ns, cfg)
        assert fired, obj["kind"]  # the comparison below is not vacuous
        expected = {r: table[r] for r in fired if r in table}
        got = _vap(policies, obj, ns, labels)
        assert got == expected, (obj["kind"], obj["metadata"]["name"])
        if phi == webhook_phi:  # the webhook itself (it judges PHI by phi.namespaces only)
            assert _webhook(cfg, obj, ns) == got, (obj["kind"], obj["metadata"]["name"])


def test_cluster_scoped_kinds_follow_admission_cluster_scoped() -> None:
    for scope in ("phi", "other"):
        cfg = parse_config({**CONFIG, "admission": {**CONFIG["admission"], "clusterScoped": scope}})
        policies = _compile(admission_policies(_options(cfg), {}))
        table = admission_actions(cfg, scope == "phi", None)
        for obj in _cluster():
            got = _vap(policies, obj, None)
            fired = _fired(obj, None, cfg)
            assert fired and got == {r: table[r] for r in fired if r in table}
            assert _webhook(cfg, obj, None) == got
        # the wildcard ClusterRole: Deny with the PHI table, Warn with the other (KH-RBAC-001 is a PHI deny)
        assert _vap(policies, _cluster()[0], None) == {"KH-RBAC-001": "deny" if scope == "phi" else "warn"}


def test_ignored_rule_has_no_binding_where_ignored() -> None:
    cfg = parse_config({"admission": {"phi": {"ignore": ["KH-NET-007"]}, "other": {"ignore": ["KH-NET-007", "KH-WL-011"]}}})
    docs = admission_policies(_options(cfg), {})
    names = {d["metadata"]["name"] for d in docs}
    assert "kubehipaa-kh-net-007" not in names  # ignored everywhere: no policy at all
    assert not any(n.startswith("kubehipaa-kh-net-007") for n in names)
    wl011 = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"
             and d["spec"]["policyName"] == "kubehipaa-kh-wl-011"]
    assert [b["metadata"]["name"] for b in wl011] == ["kubehipaa-kh-wl-011-phi"]  # warns in PHI only
    assert wl011[0]["spec"]["validationActions"] == ["Warn"]


def test_deny_bindings_audit_and_one_binding_when_the_action_is_the_same_everywhere() -> None:
    docs = admission_policies(_options(Config()), {})
    bindings = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"}
    assert bindings["kubehipaa-kh-wl-001-phi"]["validationActions"] == ["Deny", "Audit"]
    assert bindings["kubehipaa-kh-wl-001-other"]["validationActions"] == ["Warn"]
    assert bindings["kubehipaa-kh-wl-011"]["validationActions"] == ["Warn"]  # warns everywhere: one binding


def test_multi_label_phi_selector_and_empty_selector() -> None:
    """PHI = every selector label matches: NOT that is split into disjoint selectors; an empty selector
    marks no namespace PHI by labels (it must not become a select-everything binding)."""
    two = {"kubehipaa.io/phi": "true", "tier": "clinical"}
    cfg = parse_config({"phi": {"selector": two}})
    policies = _compile(admission_policies(_options(cfg), {}))
    pod = _bad_pod("x")
    for labels, phi in [(two, True), ({"kubehipaa.io/phi": "true"}, False), ({"tier": "clinical"}, False),
                        ({}, False), ({**two, "other": "1"}, True)]:
        table = admission_actions(cfg, phi, "x")
        assert _vap(policies, pod, "x", labels) == {r: table[r] for r in _fired(pod, "x", cfg) if r in table}, labels
    cfg = parse_config({"phi": {"selector": {}, "namespaces": ["clinical"]}})
    policies = _compile(admission_policies(_options(cfg), {}))
    assert _vap(policies, pod, "x", PHI)["KH-WL-001"] == "warn"  # labels mean nothing here
    assert _vap(policies, pod, "clinical")["KH-WL-001"] == "deny"
    assert _vap(_compile(admission_policies(_options(cfg, phi_only=True), {})), pod, "x", PHI) == {}


def test_phi_only_binds_phi_namespaces_by_name_and_label() -> None:
    cfg = parse_config({"phi": {"namespaces": ["clinical"]}})
    policies = _compile(admission_policies(_options(cfg, phi_only=True), {}))
    pod = _bad_pod("x")
    assert _vap(policies, pod, "team-a") == {}
    assert _vap(policies, pod, "clinical")["KH-WL-001"] == "deny"
    assert _vap(policies, pod, "research", PHI)["KH-WL-001"] == "deny"
    # cluster-scoped kinds are still judged (no namespace to select), with the clusterScoped table
    assert _vap(policies, _cluster()[0], None) == {"KH-RBAC-001": "deny"}


def test_action_override_takes_precedence_over_the_config() -> None:
    cfg = parse_config(CONFIG)
    policies = _compile(admission_policies(_options(cfg, action="warn"), {}))
    got = _vap(policies, _bad_pod("clinical"), "clinical")
    assert got and set(got.values()) == {"warn"}
    assert "KH-WL-003" in got  # the config's ignore does not apply under the override
    docs = admission_policies(_options(cfg, action="deny"), {})
    assert all(d["spec"]["validationActions"] == ["Deny", "Audit"] for d in docs
               if d["kind"] == "ValidatingAdmissionPolicyBinding")


def test_glob_namespace_entry_that_changes_a_translated_rule_is_refused() -> None:
    cfg = parse_config({"admission": {"namespaces": [{"namespace": "legacy-*", "warn": ["KH-WL-00*"]}]}})
    with pytest.raises(ConfigError, match=r"admission.namespaces\[0\] 'legacy-\*' is a name pattern and "
                                          r"changes KH-WL-001"):
        _options(cfg)
    _options(cfg, action="deny")  # one action everywhere: the entry changes nothing


@pytest.mark.parametrize("version", VERSIONS)
def test_generated_bindings_and_params_validate_strictly(version: str) -> None:
    cfg = parse_config({**CONFIG, "phi": {"namespaces": ["clinical", "billing"],
                                          "selector": {"kubehipaa.io/phi": "true", "tier": "clinical"}}})
    docs = admission_policies(_options(cfg), {})
    kinds = {d["kind"] for d in docs}
    assert kinds == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ConfigMap"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


# ---- paramKind: configurable lists -----------------------------------------------------------------------------


def test_required_labels_policy_reads_its_list_from_the_params_configmap() -> None:
    cfg = parse_config(CONFIG)
    docs = admission_policies(_options(cfg, params_namespace="hipaa"), {})
    [policy] = [d for d in docs if d["metadata"]["name"] == "kubehipaa-kh-adm-001"]
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    bindings = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"
                and d["spec"]["policyName"] == "kubehipaa-kh-adm-001"]
    assert bindings and all(b["spec"]["paramRef"] == {"name": PARAMS_NAME, "namespace": "hipaa",
                                                      "parameterNotFoundAction": "Deny"} for b in bindings)
    [cm] = [d for d in docs if d["kind"] == "ConfigMap"]
    assert cm["metadata"] == {"name": PARAMS_NAME, "namespace": "hipaa",
                              "labels": {"app.kubernetes.io/managed-by": "kubehipaa"}}
    assert cm["data"] == {"requiredLabels": "app.kubernetes.io/name,owner"}
    dep = _bad_deployment("clinical")
    assert _vap(_compile(docs), dep, "clinical")["KH-ADM-001"] == "deny"
    # the list really comes from the ConfigMap: change it, the verdict follows
    cm["data"]["requiredLabels"] = "app.kubernetes.io/name"
    assert "KH-ADM-001" not in _vap(_compile(docs), dep, "clinical")
    cm["data"]["requiredLabels"] = "app.kubernetes.io/name,,team"
    [d] = [d for d in evaluate_object(_compile(docs), dep, ObjectContext("clinical"))
           if d.check_id == "KH-ADM-001" and d.verdict != "skip"]
    assert d.verdict == "deny" and "missing labels: team." in d.messages[0]
    # no ConfigMap: parameterNotFoundAction Deny under failurePolicy Fail
    without = [d for d in docs if d["kind"] != "ConfigMap"]
    [d] = [d for d in evaluate_object(_compile(without), dep, ObjectContext("team-a"))
           if d.check_id == "KH-ADM-001" and d.verdict != "skip"]
    assert d.verdict == "warn" and "no params found" in d.messages[0]  # team-a: the non-PHI table warns


def test_required_labels_agree_with_the_webhook() -> None:
    cfg = parse_config(CONFIG)
    policies = _compile(admission_policies(_options(cfg), {}))
    labelled = {"app.kubernetes.io/name": "x", "owner": "ehr"}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "clinical"},
           "spec": {"ports": [{"port": 80}]}}
    cases = [_bad_deployment("clinical"), {**_bad_deployment("clinical"), "metadata": {
        "name": "d", "namespace": "clinical", "labels": labelled}}, _bad_pod("clinical"), svc,
        {**_bad_pod("team-a"), "metadata": {"name": "p", "namespace": "team-a", "labels": {"owner": "x"}}}]
    verdicts = []
    for obj in cases:
        ns = obj["metadata"]["namespace"]
        vap = _vap(policies, obj, ns).get("KH-ADM-001")
        assert vap == _webhook(cfg, obj, ns).get("KH-ADM-001"), obj["metadata"]["name"]
        verdicts.append(vap)
    assert verdicts == ["deny", None, "deny", None, "warn"]


def test_empty_required_labels_turns_the_rule_and_its_params_off() -> None:
    docs = admission_policies(_options(parse_config({"admission": {"requiredLabels": []}})), {})
    assert not any(d["metadata"]["name"].startswith("kubehipaa-kh-adm-001") for d in docs)
    assert not any(d["kind"] == "ConfigMap" for d in docs)


def test_split_follows_the_kubernetes_strings_library() -> None:
    docs = [{"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"},
             "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                               "operations": ["CREATE"], "resources": ["pods"]}]},
                      "validations": [{"expression": e} for e in (
                          "'a,b,,c'.split(',') == ['a', 'b', '', 'c']", "''.split(',') == ['']",
                          "'a,b,c'.split(',', 2) == ['a', 'b,c']", "'a,b'.split(',', 0) == []",
                          "'a,b'.split(',', -1) == ['a', 'b']", "'abc'.split('') == ['a', 'b', 'c']",
                          "'abc'.split('', 2) == ['a', 'bc']")]}},
            {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "p"},
             "spec": {"policyName": "p", "validationActions": ["Deny"]}}]
    [d] = evaluate_object(compile_policies(docs), _bad_pod("x"), ObjectContext("x"))
    assert d.verdict == "allow", d.messages


def _write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / ".kubehipaa.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_generate_reads_the_config_and_admission_test_binds_params(tmp_path: Path) -> None:
    config = _write_config(tmp_path, CONFIG)
    vap = tmp_path / "vap.yaml"
    r = runner.invoke(app, ["generate", "admission-policies", "-c", str(config), "-o", str(vap)])
    assert r.exit_code == 0, r.output
    text = vap.read_text()
    assert "# Params: ConfigMap kubehipaa/kubehipaa-admission-params" in text
    assert "kubehipaa-kh-wl-002-ns-billing" in text and "kubehipaa-kh-wl-002-phi-named" in text
    # KH-WL-001 denies everywhere (other: deny) but in legacy (ignored): one binding, legacy left out
    [wl1] = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "ValidatingAdmissionPolicyBinding"
             and d["spec"]["policyName"] == "kubehipaa-kh-wl-001"]
    assert wl1["metadata"]["name"] == "kubehipaa-kh-wl-001"
    assert wl1["spec"]["matchResources"]["namespaceSelector"] == {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "legacy"]}]}
    good = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "ok", "namespace": "clinical",
                         "labels": {"app.kubernetes.io/name": "ok", "owner": "ehr"}},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                                                                         "spec": _restricted()}}}
    missing = {**good, "metadata": {"name": "nolabel", "namespace": "clinical",
                                    "labels": {"app.kubernetes.io/name": "x"}}}
    manifests = tmp_path / "m.yaml"
    manifests.write_text(yaml.safe_dump(good))
    r = runner.invoke(app, ["admission", "test", str(vap), str(manifests)])
    assert r.exit_code == 0, r.output
    manifests.write_text(yaml.safe_dump(missing))
    r = runner.invoke(app, ["admission", "test", str(vap), str(manifests), "--format", "json"])
    assert r.exit_code == 1, r.output
    [obj] = json.loads(r.output)["objects"]
    [d] = [d for d in obj["decisions"] if d["verdict"] != "allow"]
    assert d["check"] == "KH-ADM-001" and d["verdict"] == "deny" and "missing labels: owner." in d["messages"][0]
    # the params ConfigMap left out of the file: denied, saying why
    docs = [d for d in yaml.safe_load_all(text) if d and d["kind"] != "ConfigMap"]
    vap.write_text(yaml.safe_dump_all(docs))
    manifests.write_text(yaml.safe_dump(good))
    r = runner.invoke(app, ["admission", "test", str(vap), str(manifests)])
    assert r.exit_code == 1 and "no params found" in r.output, r.output


def test_cli_bad_admission_config_is_one_line_exit_2(tmp_path: Path) -> None:
    config = _write_config(tmp_path, {"admission": {"namespaces": [{"namespace": "team-*", "deny": ["KH-WL-011"]}]}})
    r = runner.invoke(app, ["generate", "admission-policies", "-c", str(config)])
    assert r.exit_code == 2 and "is a name pattern and changes KH-WL-011" in r.output, r.output
    assert str(config) in r.output and "Traceback" not in r.output
    config = _write_config(tmp_path, {"admission": {"other": {"deny": ["KH-WL-999"]}}})
    r = runner.invoke(app, ["generate", "admission-policies", "-c", str(config)])
    assert r.exit_code == 2 and "matches no known rule" in r.output, r.output
    r = runner.invoke(app, ["generate", "admission-policies", "--params-namespace", "Bad_NS"])
    assert r.exit_code == 2 and "not a namespace name" in r.output, r.output


def _restricted() -> dict[str, Any]:
    from tests.admission.support import restricted_spec

    return restricted_spec()


def test_namespace_classes_partition_every_namespace() -> None:
    """Every (name, labels) a namespace can have is selected by exactly one binding of each policy, with the
    action the webhook's table gives a namespace of that PHI-ness and name (kube-system: by none)."""
    from kubehipaa.engines.cel import selector_matches

    two = {"kubehipaa.io/phi": "true", "tier": "clinical"}
    cfg = parse_config({**CONFIG, "phi": {"namespaces": ["clinical", "billing"], "selector": two}})
    for phi_only in (False, True):
        docs = admission_policies(_options(cfg, phi_only=phi_only), {})
        bindings = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
        policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"}
        label_sets = [{}, two, {"kubehipaa.io/phi": "true"}, {"tier": "clinical"}, {**two, "x": "y"},
                      {"kubehipaa.io/phi": "false", "tier": "clinical"}]
        for name in ("clinical", "billing", "legacy", "team-a", "sandbox-1", "kube-system"):
            for labels in label_sets:
                phi = name in ("clinical", "billing") or all(labels.get(k) == v for k, v in two.items())
                table = admission_actions(cfg, phi, name)
                all_labels = {**labels, "kubernetes.io/metadata.name": name}
                for pname, policy in policies.items():
                    rid = policy["metadata"]["labels"]["kubehipaa.io/check"]
                    kinds = {r for rule in policy["spec"]["matchConstraints"]["resourceRules"]
                             for r in rule["resources"]}
                    if kinds <= {"clusterroles", "clusterrolebindings"}:
                        continue
                    hits = [b for b in bindings if b["spec"]["policyName"] == pname
                            and "namespaceSelector" in b["spec"].get("matchResources", {})
                            and selector_matches(b["spec"]["matchResources"]["namespaceSelector"], all_labels)]
                    want = None if name == "kube-system" or (phi_only and not phi) else table.get(rid)
                    got = [b["spec"]["validationActions"][0].lower() for b in hits]
                    assert got == ([want] if want else []), (phi_only, name, labels, rid, got)
