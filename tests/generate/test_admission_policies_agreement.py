"""Requirement 5 (issue 18): every generated ValidatingAdmissionPolicy gives the scanner's verdict.

For each translated check, its CEL is evaluated offline (engines/cel, cel-python) over every object of every
case file under tests/cases/ (the check's own fire/pass files and every other folder: more shapes) and must
report a violation on exactly the objects the scanner reports for that check. Over the upstream PSS fixtures
(../shared/conformance/pss) the workload policies must agree with the scanner, and the ones that mirror one
PSS control must agree with our PSS engine at the fixture's version when that version is the newest.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import yaml

pytest.importorskip("celpy", reason="cel-python (the `admission` extra) is not installed")

from kubehipaa.checks.registry import all_checks
from kubehipaa.config import Config
from kubehipaa.engines.cel import CompiledPolicy, ObjectContext, compile_policies, evaluate_object
from kubehipaa.engines.pss import Level, evaluate, parse_version
from kubehipaa.engines.rbac import builtin_audit
from kubehipaa.generate.admission_policies import TRANSLATIONS, PolicyOptions, admission_policies
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.files import load_paths
from tests.conftest import CASES, CONFORMANCE

EXCLUDED = set(PolicyOptions().exclude_namespaces)
"""The bindings leave kube-system out (its control-plane static Pods are exempt from the scan by the
control-plane engine's content classifier, which CEL cannot run); the scan and the webhook judge it."""
IDS = [t.check_id for t in TRANSLATIONS]
PSS_TESTDATA = CONFORMANCE / "pss" / "testdata"


@cache
def _policies() -> dict[str, CompiledPolicy]:
    meta = {c.meta.id: (c.meta.title, c.meta.remediation) for c in all_checks()}
    docs = admission_policies(PolicyOptions(), meta)  # the default bindings: every namespace but kube-system
    return {p.check_id: p for p in compile_policies(docs) if p.check_id}


def _key(kind: str, namespace: str | None, name: str) -> tuple[str, str, str]:
    return kind, namespace or "", name


def _verdicts(path: Path) -> tuple[dict[str, set[tuple[str, str, str]]], dict[str, set[tuple[str, str, str]]],
                                   list[str]]:
    """(scanner: check -> objects with a finding, CEL: check -> objects violated, CEL messages)."""
    loaded = load_paths([str(path)])
    objects: list[K8sObject] = list(loaded.objects)
    inv = Inventory(objects, Config())
    result = run_scan(inv, Config())
    audit = builtin_audit(inv.rbac)
    # Unmodified built-in roles and bindings are created (and reconciled) by the API server itself, as
    # system:apiserver, which the policies' matchCondition exempts; any other object arrives from a user.
    by_api_server = {id(x.origin.obj) for x in [*inv.rbac.roles.values(), *inv.rbac.bindings] if audit.exempt(x)}
    scanner: dict[str, set[tuple[str, str, str]]] = {cid: set() for cid in IDS}
    for f in result.findings:
        if f.check_id in scanner and f.resource.namespace not in EXCLUDED:
            scanner[f.check_id].add(_key(f.resource.kind, f.resource.namespace, f.resource.name))
    labels = {o.name: dict((o.doc.get("metadata") or {}).get("labels") or {})
              for o in objects if o.kind == "Namespace"}
    cel: dict[str, set[tuple[str, str, str]]] = {cid: set() for cid in IDS}
    notes: list[str] = []
    policies = list(_policies().values())
    for o in objects:
        user = "system:apiserver" if id(o) in by_api_server else "jane@hospital.example"
        ctx = ObjectContext(o.namespace, labels.get(o.namespace or "", {}), username=user)
        for d in evaluate_object(policies, o.doc, ctx):
            if d.violated and d.check_id:
                cel[d.check_id].add(_key(o.kind, o.namespace, o.name))
                notes.extend(m for m in d.messages if "evaluation error" in m)
    return scanner, cel, notes


CASE_FILES = sorted(p for p in CASES.glob("*/*.yaml") if p.name != "expected.yaml"
                    and p.name.startswith(("fire", "pass")))


@pytest.mark.parametrize("path", CASE_FILES, ids=[f"{p.parent.name}/{p.name}" for p in CASE_FILES])
def test_policies_agree_with_scanner_on_case_files(path: Path) -> None:
    scanner, cel, notes = _verdicts(path)
    assert not notes, notes
    diff = {cid: {"scanner-only": sorted(scanner[cid] - cel[cid]), "cel-only": sorted(cel[cid] - scanner[cid])}
            for cid in IDS if scanner[cid] != cel[cid]}
    assert not diff, diff


def test_every_translated_check_fires_and_passes_in_its_own_cases() -> None:
    """The agreement above is not vacuous: each policy denies something in its fire files and nothing in its
    pass files."""
    for cid in IDS:
        folder = CASES / cid
        fired = [p for p in folder.glob("fire*.yaml") if _verdicts(p)[1][cid]]
        passed = [p for p in folder.glob("pass*.yaml") if not _verdicts(p)[1][cid]]
        assert fired, f"{cid}: no fire case is denied by its policy"
        assert len(passed) == len(list(folder.glob("pass*.yaml"))), f"{cid}: a pass case is denied"


def _pss_fixtures() -> list[tuple[str, str, Path]]:
    if not PSS_TESTDATA.is_dir():
        return []
    return [(lv.name, v.name, f) for lv in sorted(PSS_TESTDATA.iterdir()) if lv.is_dir()
            for v in sorted(lv.iterdir()) if v.is_dir() for f in sorted(v.glob("*/*.yaml"))]


PSS_FIXTURES = _pss_fixtures()
BASELINE_MIRROR = {
    "KH-WL-001": {"privileged"},
    "KH-WL-002": {"hostNamespaces"},
    "KH-WL-003": {"hostPathVolumes"},  # at restricted, restrictedVolumes reports hostPath instead
}
PSS_MIRROR = {
    "KH-WL-006": {"runAsNonRoot"},
    "KH-WL-007": {"runAsUser"},
    "KH-WL-008": {"allowPrivilegeEscalation"},
    "KH-WL-010": {"seccompProfile_restricted"},
}
"""Policies that mirror exactly one PSS control (KH-WL-004/005 split capabilities_restricted)."""


@pytest.mark.skipif(not PSS_FIXTURES, reason=f"upstream PSS fixtures not found at {PSS_TESTDATA} "
                    "(../shared/conformance/pss absent)")
@pytest.mark.parametrize(("level", "version", "path"), PSS_FIXTURES,
                         ids=[f"{lv}/{v}/{p.parent.name}/{p.stem}" for lv, v, p in PSS_FIXTURES])
def test_policies_agree_on_pss_fixtures(level: str, version: str, path: Path) -> None:
    scanner, cel, notes = _verdicts(path)
    assert not notes, notes
    wl = [cid for cid in IDS if cid.startswith(("KH-WL", "KH-IMG"))]
    assert {c: cel[c] for c in wl} == {c: scanner[c] for c in wl}
    pod = yaml.safe_load(path.read_text(encoding="utf-8"))
    meta, spec = pod.get("metadata") or {}, pod["spec"]
    base = evaluate(meta, spec, Level.BASELINE, parse_version("latest"))
    for cid, controls in BASELINE_MIRROR.items():
        assert bool(cel[cid]) == bool(controls & set(base.checks)), (cid, sorted(base.checks))
    verdict = evaluate(meta, spec, Level.RESTRICTED, parse_version("latest"))
    for cid, controls in PSS_MIRROR.items():
        assert bool(cel[cid]) == bool(controls & set(verdict.checks)), (cid, sorted(verdict.checks))
    caps = bool(cel["KH-WL-004"] or cel["KH-WL-005"])
    assert caps == ("capabilities_restricted" in verdict.checks)


# ---- hostile variants of the rules translated last (KH-NET-006, KH-RBAC-006/010/012, KH-NS-004) -----------

_NP = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: clinical}}\n"
_ROLE = "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{name: {name}{ns}}}\n"
_NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {labels}\n"
# Check id -> (one object as YAML, does the check report it): missing fields, null fields (the API server reads
# them as absent, and so does the offline evaluator), empty lists, IPv6, `except` blocks, aggregation. Wrong
# types (a string where a list belongs) are not here: the API server refuses them before any policy runs, and
# the scan reports them as skipped input (exit 2), so there is no policy verdict to compare.
HOSTILE: dict[str, list[tuple[str, bool]]] = {
    "KH-NET-006": [
        (_NP.format(name="v6-world") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{to: [{ipBlock: {cidr: '::/0'}}]}]\n", True),
        (_NP.format(name="world-minus-private") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 192.168.0.0/16]}}]}]\n", True),
        (_NP.format(name="world-all-excepted") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [0.0.0.0/1, 128.0.0.0/1]}}]}]\n", True),
        (_NP.format(name="no-policytypes") + "spec:\n  podSelector: {}\n"
         "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]\n", True),
        (_NP.format(name="empty-policytypes") + "spec:\n  podSelector: {}\n  policyTypes: []\n"
         "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]\n", True),
        (_NP.format(name="ingress-only-type") + "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
         "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]\n", False),
        (_NP.format(name="host-bits") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{to: [{podSelector: {}}, {ipBlock: {cidr: 10.1.2.3/0}}], ports: [{port: 443}]}]\n", True),
        (_NP.format(name="mapped-v6") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{to: [{ipBlock: {cidr: '::ffff:0.0.0.0/0'}}]}]\n", True),
        (_NP.format(name="two-halves") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/1}}, {ipBlock: {cidr: 128.0.0.0/1}}]}]\n", False),
        (_NP.format(name="zero-net") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/8}}, {ipBlock: {cidr: 0.0.0.0/10}}]}]\n", False),
        (_NP.format(name="v6-doc-range") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{to: [{ipBlock: {cidr: '2001:db8::/32', except: ['2001:db8::/48']}}]}]\n", False),
        (_NP.format(name="ingress-from-world") + "spec:\n  podSelector: {}\n"
         "  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]\n", False),
        (_NP.format(name="no-peers") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
         "  egress: [{}, {to: []}, {ports: [{port: 53, protocol: UDP}]}]\n", False),
        (_NP.format(name="no-egress") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: []\n", False),
        (_NP.format(name="no-spec"), False),
        (_NP.format(name="null-to") + "spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{to: null}]\n",
         False),
        (_NP.format(name="null-except") + "spec:\n  podSelector: {}\n  policyTypes: null\n"
         "  egress: [{to: [{ipBlock: {cidr: '0.0.0.0/00', except: null}}]}]\n", True),
    ],
    "KH-RBAC-006": [
        (_ROLE.format(kind="Role", name="star-verb", ns=", namespace: clinical")
         + "rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: ['*']}]\n", True),
        (_ROLE.format(kind="ClusterRole", name="star-group", ns="")
         + "rules: [{apiGroups: ['*'], resources: [users, pods], verbs: [impersonate]}]\n", True),
        (_ROLE.format(kind="ClusterRole", name="star-resource", ns="")
         + "rules: [{apiGroups: [''], resources: ['*'], verbs: [get, impersonate]}]\n", True),
        (_ROLE.format(kind="ClusterRole", name="uids", ns="")
         + "rules: [{apiGroups: [authentication.k8s.io], resources: [uids], verbs: [impersonate]}]\n", True),
        (_ROLE.format(kind="ClusterRole", name="uids-core-group", ns="")
         + "rules: [{apiGroups: [''], resources: [uids], verbs: [impersonate]}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="subresources-only", ns="")
         + "rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles/status, '*/escalate'], "
           "verbs: ['*']}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="wrong-group", ns="")
         + "rules: [{apiGroups: [''], resources: [clusterroles], verbs: [bind, escalate]}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="case", ns="")
         + "rules: [{apiGroups: [''], resources: [users], verbs: [Impersonate]}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="split-across-rules", ns="")
         + "rules: [{apiGroups: [''], resources: [users], verbs: [get]}, "
           "{apiGroups: [''], resources: [pods], verbs: [impersonate]}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="full-wildcard", ns="")
         + "rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}, "
           "{apiGroups: [''], resources: [users], verbs: [impersonate]}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="aggregated", ns="")
         + "aggregationRule: {clusterRoleSelectors: [{matchLabels: {x: y}}]}\n"
           "rules: [{apiGroups: [''], resources: [users], verbs: [impersonate]}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="aggregated-empty", ns="")
         + "aggregationRule: {}\nrules: [{apiGroups: [''], resources: [groups], verbs: [impersonate]}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="non-resource", ns="")
         + "rules: [{nonResourceURLs: ['*'], verbs: ['*']}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="no-rules", ns=""), False),
        (_ROLE.format(kind="Role", name="empty-rules", ns=", namespace: clinical") + "rules: []\n", False),
        (_ROLE.format(kind="ClusterRole", name="null-verbs", ns="")
         + "rules: [{apiGroups: [''], resources: [users], verbs: null}]\n", False),
        (_ROLE.format(kind="ClusterRole", name="null-aggregation", ns="")
         + "aggregationRule: null\nrules: [{apiGroups: [''], resources: [users], verbs: [impersonate]}]\n", True),
        (_ROLE.format(kind="Role", name="missing-lists", ns=", namespace: clinical")
         + "rules: [{verbs: [impersonate]}, {resources: [users], verbs: [impersonate]}]\n", False),
    ],
    "KH-RBAC-001": [  # only a ClusterRole aggregates: a Role's stray aggregationRule does not hide its rules
        (_ROLE.format(kind="Role", name="stray-aggregation", ns=", namespace: clinical")
         + "aggregationRule: {clusterRoleSelectors: [{matchLabels: {x: y}}]}\n"
           "rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n", True),
    ],
    "KH-RBAC-010": [
        ("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: t, namespace: clinical}\n"
         "automountServiceAccountToken: true\n", True),
        ("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: f, namespace: clinical}\n"
         "automountServiceAccountToken: false\n", False),
        ("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: unset, namespace: clinical}\n"
         "secrets: []\n", True),
        ("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: null-value, namespace: clinical}\n"
         "automountServiceAccountToken: null\n", True),
        ("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: string-false, namespace: clinical}\n"
         "automountServiceAccountToken: 'false'\n", True),
    ],
    "KH-RBAC-012": [
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: opaque, namespace: clinical}\n"
         "data: {token: c2VjcmV0}\n", False),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: bare-token, namespace: clinical}\n"
         "type: kubernetes.io/service-account-token\n", True),
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: sa-dockercfg, namespace: clinical}\n"
         "type: kubernetes.io/dockerconfigjson\ndata: {.dockerconfigjson: e30=}\n", False),
    ],
    "KH-NS-004": [
        (_NS.format(name="unknown-mode", labels="{pod-security.kubernetes.io/enforcement: restricted}"), True),
        (_NS.format(name="bare-prefix", labels="{pod-security.kubernetes.io/: restricted}"), True),
        (_NS.format(name="version-suffix", labels="{pod-security.kubernetes.io/audit-version-x: latest}"), True),
        (_NS.format(name="leading-zero", labels="{pod-security.kubernetes.io/enforce-version: v1.05}"), True),
        (_NS.format(name="major-2", labels="{pod-security.kubernetes.io/warn-version: v2.0}"), True),
        (_NS.format(name="upper", labels="{pod-security.kubernetes.io/audit: RESTRICTED}"), True),
        (_NS.format(name="empty-level", labels="{pod-security.kubernetes.io/warn: ''}"), True),
        (_NS.format(name="level-in-version", labels="{pod-security.kubernetes.io/enforce-version: restricted}"),
         True),
        (_NS.format(name="version-in-level", labels="{pod-security.kubernetes.io/enforce: latest}"), True),
        (_NS.format(name="v1-0", labels="{pod-security.kubernetes.io/enforce-version: v1.0, "
                    "pod-security.kubernetes.io/enforce: privileged}"), False),
        (_NS.format(name="all-six", labels="{pod-security.kubernetes.io/enforce: baseline, "
                    "pod-security.kubernetes.io/enforce-version: v1.31, pod-security.kubernetes.io/audit: "
                    "restricted, pod-security.kubernetes.io/audit-version: latest, pod-security.kubernetes.io/warn: "
                    "restricted, pod-security.kubernetes.io/warn-version: v1.99}"), False),
        (_NS.format(name="other-prefix", labels="{pod-security.kubernetes.io.example/enforce: x, "
                    "kubehipaa.io/phi: 'true'}"), False),
        (_NS.format(name="no-labels", labels="{}"), False),
        (_NS.format(name="null-level", labels="{pod-security.kubernetes.io/enforce: null}"), True),
        (_NS.format(name="int-level", labels="{pod-security.kubernetes.io/enforce-version: 1}"), True),
        ("apiVersion: v1\nkind: Namespace\nmetadata: {name: no-label-map}\n", False),
    ],
}
HOSTILE_CASES = [(cid, doc, fires) for cid, cases in HOSTILE.items() for doc, fires in cases]


@pytest.mark.parametrize(("cid", "doc", "fires"), HOSTILE_CASES,
                         ids=[f"{c}/{yaml.safe_load(d)['metadata']['name']}" for c, d, _ in HOSTILE_CASES])
def test_new_translations_agree_on_hostile_variants(cid: str, doc: str, fires: bool, tmp_path: Path) -> None:
    """Each object alone: the scanner reports it exactly when `fires`, and so does the policy (no evaluation
    error), and every other policy agrees with the scanner on it too."""
    path = tmp_path / "case.yaml"
    path.write_text(doc, encoding="utf-8")
    scanner, cel, notes = _verdicts(path)
    assert not notes, notes
    assert bool(scanner[cid]) == fires, ("scanner", scanner[cid])
    assert bool(cel[cid]) == fires, ("policy", cel[cid])
    assert cel == scanner
