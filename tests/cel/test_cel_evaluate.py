"""The offline ValidatingAdmissionPolicy evaluator (engines/cel) where its semantics follow the API server's
rather than cel-python's: null fields, the namespaceSelector on Namespace objects, and the messages of the
policies translated last."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("celpy", reason="cel-python (the `admission` extra) is not installed")

from kubehipaa.engines.cel import ObjectContext, compile_policies, evaluate_object
from kubehipaa.generate.admission_policies import PolicyOptions, admission_policies


def _policy(expression: str, resources: list[str], selector: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    binding: dict[str, Any] = {"policyName": "p", "validationActions": ["Deny"]}
    if selector is not None:
        binding["matchResources"] = {"namespaceSelector": selector}
    return [{"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"},
             "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                                                               "operations": ["*"], "resources": resources}]},
                      "validations": [{"expression": expression}]}},
            {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "p"}, "spec": binding}]


def _verdict(docs: list[dict[str, Any]], obj: dict[str, Any], ns: str | None = None) -> str:
    [d] = evaluate_object(compile_policies(docs), obj, ObjectContext(ns))
    return d.verdict


def test_null_fields_are_absent_and_null_label_values_empty() -> None:
    """The API server decodes a built-in object into its Go type: a null field is absent (`has` is false), a
    null value in a string map (labels, annotations) is "". cel-python alone would see `null`."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"},
            "aggregationRule": None, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": None}]}
    assert _verdict(_policy("!has(object.aggregationRule) && !has(object.rules[0].verbs)", ["clusterroles"]),
                    role) == "allow"
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"a": None}}}
    assert _verdict(_policy("object.metadata.labels.a == ''", ["namespaces"]), ns) == "allow"


def test_namespace_selector_matches_a_namespace_by_its_own_labels() -> None:
    """MatchResources.namespaceSelector: 'If the object itself is a namespace, the matching is performed on
    object.metadata.labels'; other cluster-scoped objects are never skipped."""
    phi = {"matchLabels": {"kubehipaa.io/phi": "true"}}
    deny_all = "false"
    plain = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}}
    tagged = {"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": "ward", "labels": {"kubehipaa.io/phi": "true"}}}
    assert _verdict(_policy(deny_all, ["namespaces"], phi), plain) == "skip"
    assert _verdict(_policy(deny_all, ["namespaces"], phi), tagged) == "deny"
    not_system = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                        "values": ["kube-system"]}]}
    system = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    assert _verdict(_policy(deny_all, ["namespaces"], not_system), system) == "skip"
    assert _verdict(_policy(deny_all, ["namespaces"], not_system), plain) == "deny"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert _verdict(_policy(deny_all, ["nodes"], phi), node) == "deny"


def _generated(obj: dict[str, Any], ns: str | None, username: str = "jane@hospital.example",
               operation: str = "CREATE", **opts: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    policies = compile_policies(admission_policies(PolicyOptions(**opts), {}))
    return {d.check_id or "": (d.verdict, d.messages)
            for d in evaluate_object(policies, obj, ObjectContext(ns, username=username, operation=operation))
            if d.violated}


def test_new_policies_name_what_is_wrong() -> None:
    netpol = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "out", "namespace": "clinical"},
              "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}},
                                                              {"ipBlock": {"cidr": "::/0"}}]},
                                                     {"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                                                          "except": ["10.0.0.0/8"]}}]}]}}
    [(verdict, (msg,))] = _generated(netpol, "clinical").values()
    assert verdict == "deny" and "egress allowed to ::/0, 0.0.0.0/0" in msg, msg
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"},
            "rules": [{"apiGroups": ["", "rbac.authorization.k8s.io"], "resources": ["groups", "clusterroles"],
                       "verbs": ["impersonate", "bind"]}]}
    got = _generated(role, None)
    assert list(got) == ["KH-RBAC-006"]
    assert "allows bind clusterroles, impersonate groups." in got["KH-RBAC-006"][1][0]
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "ward", "labels": {"pod-security.kubernetes.io/enforce": "Restricted",
                                                  "pod-security.kubernetes.io/audit": "baseline"}}}
    assert "invalid Pod Security label(s): pod-security.kubernetes.io/enforce." in _generated(ns, None)[
        "KH-NS-004"][1][0]


def test_controller_and_update_exemptions() -> None:
    """The `default` ServiceAccount the controller manager creates in every namespace is let through (denying
    it would break the namespace; the scan still reports it); a token Secret is judged only on CREATE (a
    Secret's type is immutable), so the legacy-token cleaner can still label the existing ones."""
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "clinical"}}
    assert "KH-RBAC-010" in _generated(sa, "clinical")
    for controller in ("system:serviceaccount:kube-system:service-account-controller",
                       "system:kube-controller-manager"):
        assert "KH-RBAC-010" not in _generated(sa, "clinical", username=controller)
    token = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
             "metadata": {"name": "t", "namespace": "clinical"}}
    assert "KH-RBAC-012" in _generated(token, "clinical")
    assert "KH-RBAC-012" not in _generated(token, "clinical", operation="UPDATE")


def test_phi_only_polices_pod_security_labels_of_phi_namespaces() -> None:
    bad = {"pod-security.kubernetes.io/enforce": "strict"}
    plain = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab", "labels": bad}}
    phi = {"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": "ward", "labels": {**bad, "kubehipaa.io/phi": "true"}}}
    assert "KH-NS-004" not in _generated(plain, None, phi_only=True)
    assert "KH-NS-004" in _generated(phi, None, phi_only=True)
    system = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "labels": bad}}
    assert "KH-NS-004" not in _generated(system, None)  # the default bindings leave kube-system out
