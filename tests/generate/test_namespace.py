"""`kubehipaa generate namespace` (issue 17 req 1, 2, 6): the baseline's content, our own scan of it (alone,
with a hardened workload, and in place of a namespace of the insecure example clinic), strict validation
against the upstream schemas of every supported Kubernetes version, one-line errors, and a teaching --help."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.rbac import RbacIndex, request_attributes, user_info
from kubehipaa.frameworks.hipaa_ids import PARAGRAPHS
from kubehipaa.generate.namespace import (
    MIN_MINOR,
    ROLE_APP_SUPPORT,
    ROLE_OPERATIONS,
    ROLE_SECURITY,
    NamespaceOptions,
    egress_policy_names,
    namespace_baseline,
)
from kubehipaa.respond.quarantine import POLICY_NAME, is_deny_all, is_ours, policy_body
from tests.conftest import ROOT

runner = CliRunner()
LOW_OR_ABOVE = {"low", "medium", "high", "critical"}
ISSUE_EXAMPLE = ("clinical", "--phi", "--team", "clinical-app-support", "--ops-group", "platform-ops",
                 "--security-group", "security", "--egress-cidr", "10.20.0.0/16")
VARIANTS = {
    "issue-example": ISSUE_EXAMPLE,
    "phi-no-groups-no-egress": ("records",),
    "no-phi": ("web", "--no-phi", "--team", "web-support", "--ops-group", "web-ops", "--security-group", "sec"),
    "several-egress-and-secrets": (
        "billing", "--phi", "--team", "billing-support", "--team", "billing-oncall", "--ops-group", "ops",
        "--security-group", "Security Reviewers", "--egress-cidr", "10.20.0.0/16", "--egress-cidr",
        "192.168.7.0/24", "--egress-cidr", "fd00:10::/64", "--egress-cidr", "203.0.113.5/32",
        "--allow-secret", "claims-api-token", "--allow-secret", "tls.billing", "--k8s-version", "1.30"),
    "oldest-version-only-team": ("lab", "--team", "oidc:lab-support", "--k8s-version", f"v1.{MIN_MINOR}.3"),
}
SUPPORTED = sorted({v for v in all_versions() if int(v.split(".")[1]) >= MIN_MINOR},
                   key=lambda v: int(v.split(".")[1]))


def _gen(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["generate", "namespace", *args])
    return res.exit_code, res.stdout, res.stderr


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _by(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def _scan(*paths: Path, config: Path | None = None) -> tuple[int, dict[str, Any]]:
    """The real `kubehipaa scan` (loader, inventory, every check), JSON report."""
    args = ["scan", *map(str, paths), "-f", "json", "--fail-on", "low"]
    if config is not None:
        args += ["--config", str(config)]
    res = runner.invoke(app, args)
    assert res.exit_code in (0, 1), res.stderr
    return res.exit_code, json.loads(res.stdout)


def _write(tmp_path: Path, args: tuple[str, ...], name: str = "baseline.yaml") -> Path:
    path = tmp_path / name
    code, _, err = _gen(*args, "-o", str(path))
    assert code == 0, err
    return path


# --- requirement 2: our own scan, strict upstream schemas -------------------------------------------------


@pytest.mark.parametrize("args", VARIANTS.values(), ids=VARIANTS.keys())
def test_baseline_passes_our_own_scan_with_no_finding(tmp_path: Path, args: tuple[str, ...]) -> None:
    path = _write(tmp_path, args)
    code, report = _scan(path)
    assert [f for f in report["findings"] if f["severity"] in LOW_OR_ABOVE] == []
    assert code == 0
    # the scan judged every object, and the namespace as a PHI one (PHI severities, the PHI-only checks)
    docs = _docs(path.read_text())
    assert report["summary"]["objects"] == len(docs) and report["summary"]["skipped"] == 0
    assert len({(d["kind"], d["metadata"]["name"]) for d in docs}) == len(docs)  # none replaces another
    assert not re.search(r"[&*]id\d", path.read_text())  # plain YAML a reviewer reads: no anchors/aliases
    assert report["config"]["phiNamespaces"] == ([] if "--no-phi" in args else [args[0]])


@pytest.mark.parametrize("args", VARIANTS.values(), ids=VARIANTS.keys())
def test_baseline_validates_strictly_against_every_supported_kubernetes_version(args: tuple[str, ...]) -> None:
    code, out, err = _gen(*args)
    assert code == 0, err
    docs = _docs(out)
    assert len(SUPPORTED) >= 13 and SUPPORTED[0] == "1.25.0"  # 1.25 .. 1.37 in kubernetes-validate today
    for version in SUPPORTED:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_would_catch_a_misspelt_field() -> None:
    """The validation above can fail: strict mode rejects an unknown field in one of our objects."""
    docs = _docs(_gen(*ISSUE_EXAMPLE)[1])
    bad = _by(docs, "ServiceAccount", "workload")[0] | {"automountServiceAcountToken": False}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, SUPPORTED[-1], strict=True)


@pytest.mark.parametrize("drop", [("NetworkPolicy", "default-deny-all", "KH-NET-001"),
                                  ("NetworkPolicy", POLICY_NAME, "KH-NET-005")])
def test_scan_flags_the_baseline_without_one_of_its_policies(tmp_path: Path, drop: tuple[str, str, str]) -> None:
    """The clean scan is evidence only if the scan would see the gap: remove one object, its check fires."""
    kind, name, check = drop
    docs = [d for d in _docs(_gen(*ISSUE_EXAMPLE)[1]) if (d["kind"], d["metadata"]["name"]) != (kind, name)]
    path = tmp_path / "partial.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    code, report = _scan(path)
    assert code == 1 and check in {f["checkId"] for f in report["findings"]}


HARDENED_WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: ehr-api, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: ehr-api}}
  template:
    metadata: {labels: {app: ehr-api}}
    spec:
      serviceAccountName: workload
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: api
          image: registry.example/ehr-api:2.3.1@sha256:%s
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
"""


def test_baseline_with_a_restricted_workload_scans_clean_once_egress_is_declared(tmp_path: Path) -> None:
    """With a pod in the namespace the network checks evaluate real reachability: default deny + DNS leaves
    only the --egress-cidr flow, which the scan reports (KH-NET-003) until .kubehipaa.yaml declares it, as the
    generated header says."""
    baseline = _write(tmp_path, ISSUE_EXAMPLE)
    (tmp_path / "app.yaml").write_text(HARDENED_WORKLOAD % ("clinical", "b" * 64))
    code, report = _scan(baseline, tmp_path / "app.yaml")
    found = {(f["checkId"], f["severity"]) for f in report["findings"]}
    assert code == 1 and ("KH-NET-003", "high") in found and len(found) == 1
    assert "10.20.0.0" in report["findings"][0]["message"]
    # the config line the header prints is what the scan needs
    (line,) = [x for x in baseline.read_text().splitlines() if "Declare the allowed egress" in x]
    config = tmp_path / "kubehipaa.yaml"
    config.write_text(line.split(".kubehipaa.yaml: ", 1)[1] + "\n")
    assert yaml.safe_load(config.read_text()) == {"egress": {"allowed_cidrs": ["10.20.0.0/16"]}}
    code, report = _scan(baseline, tmp_path / "app.yaml", config=config)
    assert (code, report["findings"]) == (0, [])


# --- requirement 6: generate -> scan over the example clinic ----------------------------------------------


def _keys(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(f["checkId"], f["resource"].get("kind") or "", f["resource"].get("namespace") or "",
             f["resource"].get("name") or "") for f in report["findings"]}


def test_generated_baseline_clears_the_namespace_findings_of_the_example_clinic(tmp_path: Path) -> None:
    """Replace the insecure clinic's `clinical` Namespace with the generated baseline: its namespace-level
    findings (Pod Security labels, default deny, quarantine readiness, token automount through the default
    ServiceAccount, exposure from outside) are cleared, nothing is reported on the baseline itself, and no
    finding appears that was not there before."""
    example = ROOT / "examples" / "clinic-insecure"
    tree = tmp_path / "clinic"
    shutil.copytree(example, tree)
    namespaces = tree / "namespaces.yaml"
    kept = [d for d in _docs(namespaces.read_text()) if d["metadata"]["name"] != "clinical"]
    assert len(kept) == len(_docs((example / "namespaces.yaml").read_text())) - 1
    namespaces.write_text(yaml.safe_dump_all(kept))
    config = tmp_path / "kubehipaa.yaml"
    config.write_text("egress:\n  allowed_cidrs: [10.20.0.0/16]\n")
    _, before = _scan(example, config=config)
    _write(tree, ISSUE_EXAMPLE)
    _, after = _scan(tree, config=config)
    cleared = _keys(before) - _keys(after)
    for expected in [("KH-NS-001", "Namespace", "", "clinical"), ("KH-NS-002", "Namespace", "", "clinical"),
                     ("KH-NET-001", "Namespace", "", "clinical"), ("KH-NET-005", "Namespace", "", "clinical"),
                     ("KH-RBAC-011", "Deployment", "clinical", "ehr-api"),
                     ("KH-NET-002", "Deployment", "clinical", "ehr-api")]:
        assert expected in cleared, expected
    assert not {k for k in _keys(after) - _keys(before) if k[2] == "clinical" or k[3] == "clinical"}
    assert not [f for f in after["findings"] if f["resource"].get("file", "").endswith("baseline.yaml")]


# --- requirement 1: what the baseline contains -------------------------------------------------------------


def test_issue_example_emits_every_object_of_the_baseline() -> None:
    code, out, _ = _gen(*ISSUE_EXAMPLE)
    assert code == 0
    docs = _docs(out)
    ns = _by(docs, "Namespace", "clinical")[0]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert ns[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert ns[f"pod-security.kubernetes.io/{mode}-version"] == "v1.37"
    assert ns["kubehipaa.io/phi"] == "true"
    assert all(d["metadata"].get("namespace", "clinical") == "clinical" for d in docs)

    deny = _by(docs, "NetworkPolicy", "default-deny-all")[0]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = _by(docs, "NetworkPolicy", "allow-dns-egress")[0]["spec"]
    assert dns["policyTypes"] == ["Egress"] and "ingress" not in dns
    (rule,) = dns["egress"]
    assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]
    egress = _by(docs, "NetworkPolicy", "allow-egress-10-20-0-0-16")[0]["spec"]
    assert egress["egress"] == [{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}]
    # the quarantine policy is respond's own: `respond quarantine` finds it ours and the deny-all
    quarantine = _by(docs, "NetworkPolicy", POLICY_NAME)[0]
    assert quarantine == policy_body("clinical") and is_ours(quarantine) and is_deny_all(quarantine)

    for sa in ("workload", "default"):
        assert _by(docs, "ServiceAccount", sa)[0]["automountServiceAccountToken"] is False
    assert _by(docs, "LimitRange")[0]["spec"]["limits"][0]["default"]["memory"]
    quota = _by(docs, "ResourceQuota")[0]["spec"]["hard"]
    assert quota["services.nodeports"] == "0" and quota["services.loadbalancers"] == "0"

    bindings = {b["roleRef"]["name"]: b["subjects"] for b in _by(docs, "RoleBinding")}
    assert bindings == {
        ROLE_OPERATIONS: [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "platform-ops"}],
        ROLE_SECURITY: [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "security"}],
        ROLE_APP_SUPPORT: [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                            "name": "clinical-app-support"}],
    }


def test_every_object_is_commented_with_existing_hipaa_paragraphs() -> None:
    items = namespace_baseline(NamespaceOptions("clinical", team=("t",), ops_groups=("o",),
                                                security_groups=("s",), egress_cidrs=("10.0.0.0/8",),
                                                allow_secrets=("db",)), policy_body)
    for comments, doc in items:
        cited = re.findall(r"164\.3\d\d(?:\([0-9a-zA-Z]+\))+", " ".join(comments))
        assert cited, doc["metadata"]["name"]
        assert all(pid in PARAGRAPHS for pid in cited), (doc["metadata"]["name"], cited)
    # rendered: the comments precede each document in the file
    out = _gen("clinical")[1]
    assert out.count("\n---\n") + out.startswith("---") == len(_docs(out))
    for chunk in out.split("\n---\n")[:-1]:
        assert "HIPAA 164.3" in chunk.rsplit("\n\n", 1)[-1]


def test_egress_policy_names_are_distinct_per_cidr() -> None:
    names = egress_policy_names(["10.20.0.0/16", "a::b/128", "a:b::/128", "::ffff:1.2.3.4/128",
                                 "::ffff:1:2:3:4/128", "10.20.0.0/16"])
    assert names["10.20.0.0/16"] == "allow-egress-10-20-0-0-16"
    assert len(names) == 5 and len(set(names.values())) == 5
    assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n) for n in names.values())


def test_no_phi_leaves_the_phi_label_out_and_config_selector_is_used(tmp_path: Path) -> None:
    assert "kubehipaa.io/phi" not in _by(_docs(_gen("web", "--no-phi")[1]), "Namespace")[0]["metadata"]["labels"]
    config = tmp_path / "kubehipaa.yaml"
    config.write_text("phi:\n  selector: {data-class: ephi}\n")
    labels = _by(_docs(_gen("web", "--config", str(config))[1]), "Namespace")[0]["metadata"]["labels"]
    assert labels["data-class"] == "ephi" and "kubehipaa.io/phi" not in labels


def test_unbound_roles_are_said_in_the_header() -> None:
    code, out, _ = _gen("records", "--team", "records-support")
    assert code == 0 and not [b for b in _by(_docs(out), "RoleBinding") if b["metadata"]["name"] != ROLE_APP_SUPPORT]
    assert "Roles without a binding (give --ops-group, --security-group GROUP" in out


# --- separation of duties, judged by the RBAC engine -------------------------------------------------------


def _authorize(docs: list[dict[str, Any]], group: str, verb: str, resource: str, name: str = "") -> bool:
    idx = RbacIndex.from_objects(docs)
    attrs = request_attributes(verb, resource, "clinical", name) if name else request_attributes(verb, resource,
                                                                                                   "clinical")
    return idx.authorize(user_info("alice@hospital.example", ["system:authenticated", group]), attrs).allowed


ARGS_WITH_SECRET = (*ISSUE_EXAMPLE, "--allow-secret", "ehr-api-jwt")


@pytest.mark.parametrize("group", ["platform-ops", "security", "clinical-app-support"])
def test_no_duty_may_exec_create_workloads_or_read_any_secret(group: str) -> None:
    docs = _docs(_gen(*ARGS_WITH_SECRET)[1])
    for verb, resource in [("create", "pods/exec"), ("get", "pods/exec"), ("create", "pods/attach"),
                           ("create", "pods/portforward"), ("create", "pods"), ("create", "deployments.apps"),
                           ("create", "jobs.batch"), ("update", "deployments.apps"), ("patch", "deployments.apps"),
                           ("list", "secrets"), ("watch", "secrets"), ("create", "serviceaccounts/token"),
                           ("create", "rolebindings.rbac.authorization.k8s.io"), ("bind", "roles.rbac.authorization.k8s.io"),
                           ("escalate", "roles.rbac.authorization.k8s.io"), ("impersonate", "users")]:
        assert not _authorize(docs, group, verb, resource), (group, verb, resource)
    assert not _authorize(docs, group, "get", "secrets", "other-secret")
    assert _authorize(docs, group, "get", "secrets", "ehr-api-jwt") is (group == "clinical-app-support")
    assert not _authorize(docs, "someone-else", "get", "pods")


def test_each_duty_has_what_it_needs() -> None:
    docs = _docs(_gen(*ARGS_WITH_SECRET)[1])
    ops, sec, support = "platform-ops", "security", "clinical-app-support"
    assert _authorize(docs, ops, "update", "deployments.apps/scale") and _authorize(docs, ops, "delete", "pods")
    assert _authorize(docs, ops, "get", "pods/log")
    assert _authorize(docs, sec, "list", "rolebindings.rbac.authorization.k8s.io")
    assert _authorize(docs, sec, "list", "networkpolicies.networking.k8s.io") and _authorize(docs, sec, "list", "events")
    assert not _authorize(docs, sec, "get", "pods/log")  # logs may carry ePHI
    assert not any(_authorize(docs, sec, v, "pods") for v in ("create", "update", "patch", "delete"))
    assert _authorize(docs, support, "get", "pods/log") and _authorize(docs, support, "list", "deployments.apps")
    assert not any(_authorize(docs, support, v, "deployments.apps") for v in ("update", "patch", "delete"))


# --- bad input and --help ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "says"), [
    (("Clinical",), "not a valid namespace name"),
    (("clin_ical",), "not a valid namespace name"),
    (("a" * 64,), "not a valid namespace name"),
    (("kube-system",), "Kubernetes' own namespaces"),
    (("clinical", "--egress-cidr", "10.20.0.0/33"), "not a valid CIDR"),
    (("clinical", "--egress-cidr", "10.20.1.0/16"), "did you mean 10.20.0.0/16"),
    (("clinical", "--egress-cidr", "10.20.0.1"), "prefix length"),
    (("clinical", "--egress-cidr", "0.0.0.0/0"), "undoes the default deny"),
    (("clinical", "--egress-cidr", "::/0"), "undoes the default deny"),
    (("clinical", "--team", ""), "--team ''"),
    (("clinical", "--ops-group", "  "), "--ops-group '  '"),
    (("clinical", "--security-group", "system:authenticated"), "system: group"),
    (("clinical", "--team", "a\u2028kind: ClusterRoleBinding"), "--team 'a"),
    (("clinical", "--team", "a\nb"), "--team 'a"),
    (("clinical", "--egress-cidr", " 10.20.0.0/16"), "not a valid CIDR"),
    (("clinical", "--allow-secret", "Bad Name"), "not a valid Secret name"),
    (("clinical", "--k8s-version", "1.24"), "supported are 1.25 to 1.37"),
    (("clinical", "--k8s-version", "latest"), "--k8s-version 'latest'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    out = tmp_path / "out.yaml"
    code, stdout, stderr = _gen(*args, "-o", str(out))
    assert code == 2 and stdout == "" and not out.exists()
    assert says in stderr and stderr.strip().count("\n") == 0, stderr
    assert "Traceback" not in stderr


def test_help_teaches_the_command() -> None:
    res = runner.invoke(app, ["generate", "namespace", "--help"], terminal_width=200)
    assert res.exit_code == 0
    text = " ".join(res.stdout.split())
    for needle in ("--phi", "--no-phi", "--team", "--ops-group", "--security-group", "--egress-cidr",
                   "--allow-secret", "--k8s-version", "restricted", "default deny", "quarantine", "never users",
                   "egress.allowed_cidrs", "Example: kubehipaa generate namespace clinical"):
        assert needle in text, needle
    assert "namespace" in runner.invoke(app, ["generate", "--help"], terminal_width=200).stdout
