"""`generate admission-policies`, the offline CEL engine and `admission test` (issue 18 req 5)."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from typer.testing import CliRunner

pytest.importorskip("celpy", reason="cel-python (the `admission` extra) is not installed")

from kubehipaa.cli.main import app
from kubehipaa.engines.cel import (
    CelPolicyError,
    ObjectContext,
    compile_policies,
    evaluate_object,
    guess_resource,
    selector_matches,
)
from kubehipaa.generate.admission_policies import (
    NOT_EXPRESSIBLE,
    TRANSLATIONS,
    PolicyOptions,
    admission_policies,
    cel_string,
    not_expressible,
)

VERSIONS = sorted((v for v in all_versions() if int(v.split(".")[1]) >= 30), key=lambda v: int(v.split(".")[1]))
runner = CliRunner()


def _pod(**spec_extra: object) -> dict:
    ct = {"name": "app", "image": "r.example/app:1@sha256:" + "a" * 64,
          "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                              "readOnlyRootFilesystem": True},
          "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}}
    spec = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [ct], **spec_extra}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "clinical",
                                                         "labels": {"app.kubernetes.io/name": "p"}},
            "spec": spec}


def _policies(**opts: object) -> list:
    return compile_policies(admission_policies(PolicyOptions(**opts), {}))  # type: ignore[arg-type]


def _violations(obj: dict, policies: list, **ctx: object) -> dict[str, str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return {d.check_id: d.verdict for d in evaluate_object(policies, obj, ObjectContext(ns, **ctx))  # type: ignore[arg-type]
            if d.violated}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("phi_only", [False, True])
def test_generated_manifests_validate_strictly(version: str, phi_only: bool) -> None:
    docs = admission_policies(PolicyOptions(phi_only=phi_only), {})
    assert len(docs) == 2 * len(TRANSLATIONS)
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_restricted_pod_is_admitted_and_each_violation_is_named() -> None:
    policies = _policies()
    assert _violations(_pod(), policies) == {}
    bad = _pod(hostPID=True)
    bad["spec"]["containers"][0]["securityContext"]["privileged"] = True
    assert _violations(bad, policies) == {"KH-WL-001": "deny", "KH-WL-002": "deny"}


def test_workload_templates_and_cronjobs_are_judged() -> None:
    pod = _pod(hostNetwork=True)
    template = {"metadata": {}, "spec": pod["spec"]}
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "clinical"},
           "spec": {"template": template}}
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "clinical"},
            "spec": {"jobTemplate": {"spec": {"template": template}}}}
    policies = _policies()
    assert set(_violations(dep, policies)) == {"KH-WL-002"}
    assert set(_violations(cron, policies)) == {"KH-WL-002"}


def test_phi_only_binds_phi_namespaces_and_warn_action() -> None:
    bad = _pod(hostIPC=True)
    phi = _policies(phi_only=True, action="warn")
    assert _violations(bad, phi) == {}  # clinical carries no PHI label
    assert _violations(bad, phi, namespace_labels={"kubehipaa.io/phi": "true"}) == {"KH-WL-002": "warn"}
    # kube-system is left out of the default binding (control-plane static Pods: see NOT_EXPRESSIBLE)
    bad["metadata"]["namespace"] = "kube-system"
    assert _violations(bad, _policies()) == {}


def test_messages_name_the_check_and_the_fix() -> None:
    policies = compile_policies(admission_policies(PolicyOptions(), {"KH-WL-003": ("hostPath volume", "Use a PVC's")}))
    bad = _pod(volumes=[{"name": "host", "hostPath": {"path": "/"}}])
    [d] = [d for d in evaluate_object(policies, bad, ObjectContext("clinical")) if d.violated]
    assert d.messages == ("KH-WL-003 Pod p: hostPath volume(s): host. Fix: Use a PVC's",)


def test_rbac_policies_exempt_only_the_api_server() -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    policies = _policies()
    assert _violations(role, policies) == {"KH-RBAC-001": "deny"}
    assert _violations(role, policies, username="system:apiserver") == {}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "b", "namespace": "clinical"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
               "subjects": [{"kind": "User", "name": "jane"},
                            {"kind": "User", "name": "system:serviceaccount:clinical:app"}]}
    assert _violations(binding, policies) == {"KH-RBAC-004": "deny"}


def test_heterogeneous_equality_is_false_not_an_error() -> None:
    """A string "true" is not `true` (cel-go heterogeneous equality); the scan agrees (`is True`)."""
    bad = _pod()
    bad["spec"]["containers"][0]["securityContext"]["privileged"] = "true"
    bad["spec"]["securityContext"]["runAsUser"] = False  # not the int 0
    assert _violations(bad, _policies()) == {}


def test_join_k8s_library_function() -> None:
    docs = [{"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"},
             "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                               "operations": ["CREATE"], "resources": ["pods"]}]},
                      "validations": [{"expression": "false",
                                       "messageExpression": "['a', 'b'].join(', ') + '|' + ['x'].join()"},
                                      {"expression": "[1].join() == ''"}]}},
            {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "p"},
             "spec": {"policyName": "p", "validationActions": ["Deny"]}}]
    [d] = evaluate_object(compile_policies(docs), _pod(), ObjectContext("clinical"))
    assert d.verdict == "deny"  # a violation, plus an error (failurePolicy Fail): denied either way
    assert d.messages[0] == "a, b|x"
    assert "evaluation error" in d.messages[1]  # join on a list of ints is an error, as in Kubernetes


def test_unknown_function_and_bad_cel_are_errors_not_allows() -> None:
    base = {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"},
            "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                                                              "operations": ["*"], "resources": ["*"]}]},
                     "validations": [{"expression": "object.metadata.name.lowerAscii() == 'p'"}]}}
    binding = {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "p"},
               "spec": {"policyName": "p", "validationActions": ["Deny"]}}
    [d] = evaluate_object(compile_policies([base, binding]), _pod(), ObjectContext("clinical"))
    assert d.verdict == "error"
    base["spec"]["validations"] = [{"expression": "object.("}]
    with pytest.raises(CelPolicyError, match="does not compile"):
        compile_policies([base, binding])


def test_label_selector_and_resource_guess() -> None:
    sel = {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["x"]},
                                                          {"key": "c", "operator": "Exists"}]}
    assert selector_matches(sel, {"a": "1", "c": ""})
    assert not selector_matches(sel, {"a": "1", "b": "x", "c": ""})
    assert not selector_matches(sel, {"a": "1"})
    assert selector_matches({}, {})
    assert [guess_resource(k) for k in ("Ingress", "NetworkPolicy", "Pod")] == ["ingresses", "networkpolicies", "pods"]


def test_cel_string_escapes() -> None:
    assert cel_string("it's \"x\"\n") == "'it\\'s \"x\"\\n'"


def test_not_expressible_list_covers_every_other_check() -> None:
    from kubehipaa.checks.registry import all_checks

    covered = {t.check_id for t in TRANSLATIONS}
    listed = not_expressible({c.meta.id: c.meta.needs.why for c in all_checks() if c.meta.needs is not None})
    families = {k[:-2] for key in listed for k in key.split(", ") if k.endswith("-*")}
    for c in all_checks():
        cid = c.meta.id
        assert cid in covered or cid in listed or cid.rsplit("-", 1)[0] in families, cid
    assert not covered & set(listed) and not covered & set(NOT_EXPRESSIBLE)


# ---- CLI ---------------------------------------------------------------------------------------------------


def test_cli_generate_then_test(tmp_path: Path) -> None:
    vap = tmp_path / "vap.yaml"
    r = runner.invoke(app, ["generate", "admission-policies", "--phi-only", "-o", str(vap)])
    assert r.exit_code == 0, r.output
    text = vap.read_text()
    assert "# Not expressible in CEL" in text and "KH-RBAC-005" in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert {d["kind"] for d in docs} == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                                         "ConfigMap"}  # the params of KH-ADM-001 (admission.requiredLabels)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "clinical",
                                                                  "labels": {"kubehipaa.io/phi": "true"}}}
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump_all([ns, _pod()]))
    pod = _pod(hostNetwork=True)
    bad.write_text(yaml.safe_dump_all([ns, pod]))
    r = runner.invoke(app, ["admission", "test", str(vap), str(good)])
    assert r.exit_code == 0, r.output
    assert "0 denied" in r.output
    r = runner.invoke(app, ["admission", "test", str(vap), str(bad), "--format", "json"])
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    [obj] = [o for o in out["objects"] if o["denied"]]
    assert [d["check"] for d in obj["decisions"] if d["verdict"] == "deny"] == ["KH-WL-002"]


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    vap = tmp_path / "vap.yaml"
    vap.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    target = tmp_path / "m.yaml"
    target.write_text(yaml.safe_dump(_pod()))
    r = runner.invoke(app, ["admission", "test", str(vap), str(target)])
    assert r.exit_code == 2 and "no ValidatingAdmissionPolicyBinding" in r.output
    r = runner.invoke(app, ["generate", "admission-policies", "--action", "block"])
    assert r.exit_code == 2
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    good = tmp_path / "vap2.yaml"
    assert runner.invoke(app, ["generate", "admission-policies", "-o", str(good)]).exit_code == 0
    r = runner.invoke(app, ["admission", "test", str(good), str(empty)])
    assert r.exit_code == 2 and "no Kubernetes object" in r.output


def test_malformed_object_is_an_error_verdict_not_a_traceback_or_allow(tmp_path: Path) -> None:
    """containers as a string: the API server would reject it, a policy evaluation errors (failurePolicy
    Fail): denied, with a readable reason naming the variable."""
    vap = tmp_path / "vap.yaml"
    # --action deny: in a non-PHI namespace the config's table only warns (as the webhook would)
    assert runner.invoke(app, ["generate", "admission-policies", "--action", "deny", "-o", str(vap)]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers: oops\n")
    r = runner.invoke(app, ["admission", "test", str(vap), str(bad)])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    assert "ERROR  Pod a/p" in r.output and "variable allContainers: found no matching overload" in r.output
    assert "<class" not in r.output
