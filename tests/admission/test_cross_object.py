"""Which checks one object cannot decide: one catalog (`CheckMeta.needs`), read by the webhook and the VAP generator.

The webhook judges a one-object inventory (an AdmissionReview carries one object); a check that reads other
objects (the Role a binding names, the pod's ServiceAccount, the namespace's NetworkPolicies) fires there
because they are missing, unless its metadata says so. The audit below runs every manifest check on each object
alone and in its whole input (the examples, every case file, and hand-written pairs whose second object changes
the verdict) and holds the metadata to what it sees.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.config import Config, load_config, parse_config
from kubehipaa.generate.admission_policies import BY_ID, NOT_EXPRESSIBLE, TRANSLATIONS, not_expressible
from kubehipaa.inventory import Inventory
from kubehipaa.model import Finding, K8sObject
from kubehipaa.pipelines.admission import Policy, checks_for_kind, review
from kubehipaa.sources.files import load_paths, load_text
from tests.admission.support import LABELS, restricted_spec
from tests.admission.support import review as body

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 7)
MANIFEST_CHECKS = [c for c in all_checks() if c.meta.scope == "manifest"]

Key = tuple[str, str, str, str, str]


def _key(f: Finding) -> Key:
    """A finding's identity across the two runs: rule, object, field (severity and wording may differ: a
    namespace that is PHI by its labels raises severity only in the full input)."""
    r = f.resource
    return f.check_id, r.kind, r.namespace or "", r.name, f.evidence[0].path if f.evidence else ""


def _obj_key(o: K8sObject) -> tuple[str, str, str]:
    return o.kind, o.namespace or "", o.name


# ---- the inputs: real shapes ---------------------------------------------------------------------------------

_RBAC = "rbac.authorization.k8s.io/v1"
PAIRS: dict[str, list[dict[str, Any]]] = {
    # a built-in binding of a modified built-in role loses its exemption (KH-RBAC-002..009, -014 on bindings)
    "modified-builtin-role": [
        {"apiVersion": _RBAC, "kind": "ClusterRole", "metadata": {"name": "system:basic-user"},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": _RBAC, "kind": "ClusterRoleBinding",
         "metadata": {"name": "system:basic-user", "annotations": {"kubehipaa.io/expires": "2020-01-31"}},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:basic-user"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]},
        {"apiVersion": _RBAC, "kind": "ClusterRole",
         "metadata": {"name": "cluster-admin", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]},
        {"apiVersion": _RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "cluster-admin"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]},
    ],
    # a RoleBinding to a custom Role: the role's rules decide KH-RBAC-005/007/013; without it, RR-014 fires
    "custom-role": [
        {"apiVersion": _RBAC, "kind": "Role", "metadata": {"name": "pod-debugger", "namespace": "clinical"},
         "rules": [{"apiGroups": [""], "resources": ["pods/exec", "secrets"], "verbs": ["create", "get", "list"]}]},
        {"apiVersion": _RBAC, "kind": "RoleBinding", "metadata": {"name": "debuggers", "namespace": "clinical"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-debugger"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall"}]},
    ],
    # a ServiceAccount that turns the token off: a pod leaving the field unset mounts none (KH-RBAC-011)
    "service-account": [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ehr", "namespace": "clinical"},
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ehr-0", "namespace": "clinical"},
         "spec": {"serviceAccountName": "ehr", "containers": [{"name": "app", "image": "r.example/ehr:1"}]}},
    ],
}
"""Hand-written pairs whose second object changes the first one's verdict, beyond what the case files show."""


def _inputs() -> list[tuple[str, list[K8sObject], Config]]:
    out: list[tuple[str, list[K8sObject], Config]] = []
    for ex in sorted((ROOT / "examples").iterdir()):
        cfg_path = ex / ".kubehipaa.yaml"
        cfg = load_config(str(cfg_path)) if cfg_path.exists() else Config()
        out.append((str(ex.relative_to(ROOT)), load_paths([str(ex)]).objects, cfg))
    for case in sorted((ROOT / "tests" / "cases").glob("*/*.yaml")):
        if case.name != "expected.yaml":
            out.append((str(case.relative_to(ROOT)), load_paths([str(case)]).objects, Config()))
    phi = parse_config({"phi": {"namespaces": ["clinical"]}})
    for name, docs in PAIRS.items():
        out.append((f"PAIRS[{name}]", load_text(yaml.safe_dump_all(docs), f"{name}.yaml").objects, phi))
    return out


def _run(chk: Check, inv: Inventory) -> set[Key]:
    return {_key(f) for f in chk.run(inv)}


@cache
def audit() -> tuple[tuple[str, str, str, tuple[str, str, str], frozenset[Key], frozenset[Key]], ...]:
    """(input, check id, what the metadata says for the object's kind, object, findings alone, findings in the
    whole input) for every manifest check and every object of every input."""
    rows = []
    for where, objects, cfg in _inputs():
        assert objects, where
        full = Inventory(objects, cfg)
        in_context = {c.meta.id: _run(c, full) for c in MANIFEST_CHECKS}
        for obj in objects:
            alone_inv = Inventory([obj], cfg)
            ok = _obj_key(obj)
            for c in MANIFEST_CHECKS:
                alone = frozenset(_run(c, alone_inv))
                ctx = frozenset(k for k in in_context[c.meta.id] if k[1:4] == ok)
                rows.append((where, c.meta.id, c.meta.alone(obj.kind), ok, alone, ctx))
    return tuple(rows)


# ---- the metadata holds --------------------------------------------------------------------------------------


def test_a_check_reading_other_objects_says_so() -> None:
    """Unmarked ("exact"): alone and in context give the same findings on the object. "subset" (and "default",
    whose one known departure is tested below): alone gives only findings the context confirms. A finding alone
    but not in context, or the reverse on an unmarked check, means a check reads other objects without its
    `needs` saying so."""
    wrong: list[str] = []
    for where, cid, alone_mode, obj, alone, ctx in audit():
        if alone_mode == "skip":
            continue
        extra = alone - ctx
        if extra:
            wrong.append(f"{cid} on {obj} in {where}: {sorted(extra)} alone, not in context (mark needs, skip)")
        if alone_mode == "exact" and ctx - alone:
            wrong.append(f"{cid} on {obj} in {where}: {sorted(ctx - alone)} only in context (mark needs)")
    assert not wrong, "\n".join(wrong[:20])


def test_the_audit_sees_what_the_marks_are_for() -> None:
    """The inputs exercise the marks: each skipped check fires alone on some object where the context says
    otherwise, or shows in context what one object cannot (else a mark could be dropped unnoticed)."""
    shown: set[str] = set()
    for _where, cid, alone_mode, _obj, alone, ctx in audit():
        if alone_mode != "exact" and alone != ctx:
            shown.add(cid)
    marked = {c.meta.id for c in MANIFEST_CHECKS if c.meta.needs is not None}
    assert marked - shown == set(), f"marked, but no input shows why: {sorted(marked - shown)}"
    # The false findings the issue is about are among those the audit sees alone and not in context.
    fired_alone = {cid for _w, cid, mode, _o, alone, ctx in audit() if mode == "skip" and alone - ctx}
    assert {"KH-RBAC-013", "KH-RBAC-011", "KH-NET-001", "KH-NET-002", "KH-NET-003", "KH-NET-005"} <= fired_alone


def test_pss_001_alone_is_judged_at_latest_where_the_namespace_pins_an_older_version() -> None:
    """KH-PSS-001 is "default": alone, the pod is judged at restricted/latest (the request does not carry the
    Namespace's labels). With a Namespace pinning restricted v1.22, runAsUser 0 (forbidden since v1.23) passes
    in the full input and fails alone: the webhook is stricter there, knowingly."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "clinical", "labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "v1.22"}}}
    spec = restricted_spec()
    spec["securityContext"]["runAsUser"] = 0
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ehr-0", "namespace": "clinical"}, "spec": spec}
    objects = load_text(yaml.safe_dump_all([ns, pod]), "pinned.yaml").objects
    cfg = parse_config({"phi": {"namespaces": ["clinical"]}})
    pss = next(c for c in all_checks() if c.meta.id == "KH-PSS-001")
    assert pss.meta.alone("Pod") == "default"
    assert _run(pss, Inventory(objects, cfg)) == set()
    assert {k[0] for k in _run(pss, Inventory([objects[1]], cfg))} == {"KH-PSS-001"}


def test_webhook_runs_exactly_the_checks_one_object_decides() -> None:
    for kind in ("Pod", "Deployment", "RoleBinding", "ClusterRoleBinding", "ClusterRole", "Role", "NetworkPolicy",
                 "Namespace", "ServiceAccount", "Service"):
        ids = {c.meta.id for c in checks_for_kind(kind)}
        assert not {c.meta.id for c in MANIFEST_CHECKS if c.meta.alone(kind) == "skip"} & ids, kind
    assert "KH-RBAC-013" in {c.meta.id for c in checks_for_kind("ClusterRole")}  # aggregate-to labels: its own
    assert "KH-RBAC-013" not in {c.meta.id for c in checks_for_kind("RoleBinding")}
    assert "KH-RBAC-005" in {c.meta.id for c in checks_for_kind("RoleBinding")}  # built-in roles: subset
    assert "KH-RBAC-011" not in {c.meta.id for c in checks_for_kind("Pod")}


# ---- through review(), with real AdmissionReview bodies ------------------------------------------------------


def _policy() -> Policy:
    return Policy(parse_config({"phi": {"namespaces": ["clinical"]}}))


def _binding(role_kind: str, role: str, subject: dict[str, str], name: str = "ehr-readers") -> dict[str, Any]:
    return {"apiVersion": _RBAC, "kind": "RoleBinding", "metadata": {"name": name, "namespace": "clinical"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [subject]}


GROUP = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ehr-oncall"}


def test_rolebinding_to_a_role_the_request_does_not_carry_gets_no_false_warning() -> None:
    d = review(body(_binding("Role", "ehr-reader", GROUP)), _policy(), today=TODAY)
    resp = d.response["response"]
    assert resp["allowed"] is True and d.evaluated
    assert "KH-RBAC-013" not in d.warned, resp.get("warnings")  # was: RR-014 "Binding to a missing role"
    assert d.warned == [] and "warnings" not in resp


def test_rolebinding_checks_one_object_decides_still_run() -> None:
    user = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane@example.org"}
    d = review(body(_binding("Role", "ehr-reader", user)), _policy(), today=TODAY)
    assert d.denied == ["KH-RBAC-004"]  # the binding's own subjects
    # a built-in ClusterRole is known without the cluster: edit reads every Secret and execs into pods
    d = review(body(_binding("ClusterRole", "edit", GROUP)), _policy(), today=TODAY)
    assert "KH-RBAC-005" in d.denied and "KH-RBAC-007" in d.warned + d.denied
    assert "KH-RBAC-013" not in d.warned + d.denied  # skipped on bindings, not judged half


def test_clusterrole_aggregate_label_is_judged_alone() -> None:
    role = {"apiVersion": _RBAC, "kind": "ClusterRole",
            "metadata": {"name": "extra-admin", "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}
    d = review(body(role, namespace=""), _policy(), today=TODAY)
    assert "KH-RBAC-013" in d.warned + d.denied


def test_pod_without_its_service_account_gets_no_automount_warning() -> None:
    spec = restricted_spec()
    del spec["automountServiceAccountToken"]  # unset: the ServiceAccount, not in the request, decides
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ehr-0", "labels": dict(LABELS)}, "spec": spec}
    d = review(body(pod), _policy(), today=TODAY)
    assert d.allowed and "KH-RBAC-011" not in d.warned and d.warned == []


# ---- the generator lists the same catalog --------------------------------------------------------------------


def _cross_object() -> dict[str, str]:
    return {c.meta.id: c.meta.needs.why for c in all_checks() if c.meta.needs is not None}


def test_not_expressible_lists_the_metadata_cross_object_checks() -> None:
    cross = _cross_object()
    listed = not_expressible(cross)
    assert {cid for cid in listed if cid in cross} == set(cross) - set(BY_ID)
    for cid in set(cross) - set(BY_ID):
        assert cross[cid] in listed[cid], cid
    # the static list does not restate a cross-object reason: a check one object cannot decide at all is
    # listed from its metadata alone
    for cid in NOT_EXPRESSIBLE:
        meta = next((c.meta for c in all_checks() if c.meta.id == cid), None)
        assert meta is None or meta.needs is None or meta.needs.alone == "subset", cid


def test_a_translated_check_is_decidable_on_one_object() -> None:
    """A ValidatingAdmissionPolicy sees one object: a check it translates must not need others on its kinds."""
    metas = {c.meta.id: c.meta for c in all_checks()}
    for t in TRANSLATIONS:
        for kind in t.kinds:
            assert metas[t.check_id].alone(kind) != "skip", (t.check_id, kind)


def test_cli_header_lists_the_metadata_reasons(tmp_path: Path) -> None:
    pytest.importorskip("celpy", reason="cel-python (the `admission` extra) is not installed")
    from kubehipaa.cli.main import app

    out = tmp_path / "vap.yaml"
    r = CliRunner().invoke(app, ["generate", "admission-policies", "-o", str(out)])
    assert r.exit_code == 0, r.output
    header = [line[4:] for line in out.read_text().splitlines() if line.startswith("#   KH-")]
    cross = _cross_object()
    assert header == [f"{cid}: {why}" for cid, why in not_expressible(cross).items()]
    assert any(line.startswith("KH-RBAC-013: ") and cross["KH-RBAC-013"] in line for line in header)
