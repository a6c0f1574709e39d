"""`kubehipaa generate scanner-rbac|cronjob`: schema-valid, least privilege (RBAC engine), restricted pods,
no credential in the manifest, our own scan of the output, and the README block kept identical."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.rbac import RbacIndex, request_attributes, service_account_username, user_info
from kubehipaa.generate import CronJobOptions, HistoryTarget, Subject, scanner_cronjob, scanner_rbac
from kubehipaa.sources.cluster import KINDS, NODES
from tests.conftest import ROOT

runner = CliRunner()
IMAGE = "registry.example/kubehipaa:0.1.0@sha256:" + "a" * 64
SA = ("kubehipaa", "kubehipaa-scanner")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
ALL_VERBS = ("get", "list", "watch", *WRITE_VERBS, "impersonate", "bind", "escalate", "approve", "use", "proxy")


def _gen(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["generate", *args])
    return res.exit_code, res.stdout, res.stderr


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


CRONJOB_VARIANTS = {
    "pvc": ("--image", IMAGE),
    "namespace": ("--image", IMAGE, "--create-namespace", "--cluster-name", "prod-east", "-n", "scan"),
    "history-secret": ("--image", IMAGE, "--history-secret", "history-db:dsn"),
    "history-url": ("--image", IMAGE, "--history-url", "postgresql://history.example/kubehipaa?sslmode=require"),
    "existing-pvc": ("--image", IMAGE, "--pvc", "reports", "--pvc-size", ""),
    "no-secrets": ("--image", IMAGE, "--no-secrets"),
}
RBAC_VARIANTS = {
    "role": (),
    "bound": ("--serviceaccount", "kubehipaa/kubehipaa-scanner", "--user", "jane@hospital.org",
              "--group", "sec-scanners"),
    "no-secrets": ("--no-secrets", "--serviceaccount", "kubehipaa/kubehipaa-scanner"),
}


@pytest.mark.parametrize("args", [("scanner-rbac", *a) for a in RBAC_VARIANTS.values()]
                         + [("cronjob", *a) for a in CRONJOB_VARIANTS.values()],
                         ids=[f"rbac-{k}" for k in RBAC_VARIANTS] + [f"cronjob-{k}" for k in CRONJOB_VARIANTS])
def test_generated_manifests_validate_against_upstream_schemas(args: tuple[str, ...]) -> None:
    code, out, err = _gen(*args)
    assert code == 0, err
    docs = _docs(out)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def _authorizer() -> tuple[RbacIndex, Any]:
    idx = RbacIndex.from_objects(scanner_rbac([Subject("ServiceAccount", SA[1], SA[0])]))
    return idx, user_info(service_account_username(*SA))


def _target(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def test_rbac_engine_allows_exactly_get_list_on_the_scanned_kinds() -> None:
    """Derived from sources.cluster.KINDS: the role allows list (and get) on every plural the scan lists, list
    on nodes, and nothing else: no write verb, no watch, no subresource, no other resource or group."""
    idx, user = _authorizer()
    expected = {(verb, spec.plural, spec.group) for spec in KINDS for verb in ("get", "list")}
    expected.add(("list", NODES.plural, NODES.group))
    from tests.kubeapi.server import RESOURCES

    resources = {(plural, group) for group, _, plural, _, _ in RESOURCES}
    resources |= {(spec.plural, spec.group) for spec in KINDS}
    resources |= {("leases", "coordination.k8s.io"), ("events", ""), ("endpoints", ""),
                  ("customresourcedefinitions", "apiextensions.k8s.io"), ("widgets", "example.com"),
                  ("certificatesigningrequests", "certificates.k8s.io"), ("persistentvolumes", "")}
    allowed = set()
    for plural, group in sorted(resources):
        for verb in ALL_VERBS:
            for namespace in ("", "clinical"):
                if idx.authorize(user, request_attributes(verb, _target(plural, group), namespace)).allowed:
                    allowed.add((verb, plural, group))
            for sub in ("log", "exec", "status", "proxy", "token", "eviction"):
                attrs = request_attributes(verb, f"{_target(plural, group)}/{sub}", "clinical")
                assert not idx.authorize(user, attrs).allowed, (verb, plural, sub)
    assert allowed == expected
    for path in ("/metrics", "/logs", "/healthz"):
        assert not idx.authorize(user, request_attributes("get", path)).allowed
    rules = scanner_rbac()[0]["rules"]
    flat = [x for rule in rules for key in ("apiGroups", "resources", "verbs") for x in rule[key]]
    assert "*" not in flat and not any("nonResourceURLs" in rule or "resourceNames" in rule for rule in rules)


def test_no_secrets_leaves_only_secrets_out() -> None:
    with_secrets = {r for rule in scanner_rbac()[0]["rules"] for r in rule["resources"]}
    without = {r for rule in scanner_rbac(include_secrets=False)[0]["rules"] for r in rule["resources"]}
    assert with_secrets - without == {"secrets"}


def test_readme_shows_exactly_what_the_command_emits() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Scan a live cluster"):]
    section = section[:section.index("\n## ", 1)]
    match = re.search(r"```sh\nkubehipaa generate scanner-rbac\n```\n\n```yaml\n(.*?)```", section, re.S)
    assert match, "the README's 'Scan a live cluster' section must show `kubehipaa generate scanner-rbac`"
    code, out, _ = _gen("scanner-rbac")
    assert code == 0
    assert match.group(1) == out


def _scan_json(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    res = runner.invoke(app, ["scan", str(path), "-f", "json", "--fail-on", "high", *args])
    return res.exit_code, json.loads(res.stdout)


def _at_or_above_high(report: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((f["checkId"], f["resource"]["kind"]) for f in report["findings"]
                  if f["severity"] in ("high", "critical") and not f.get("suppressed"))


@pytest.mark.parametrize("command", [("scanner-rbac",), ("cronjob", "--image", IMAGE, "--create-namespace")])
def test_our_own_scan_passes_without_secrets(tmp_path: Path, command: tuple[str, ...]) -> None:
    """With --no-secrets nothing at or above high remains; the only lower finding is the token the scanner
    must mount (KH-RBAC-011, low: the CronJob is the scanner, its token is its credential)."""
    path = tmp_path / "out.yaml"
    assert _gen(*command, "--no-secrets", "-o", str(path))[0] == 0
    code, report = _scan_json(path)
    assert code == 0, report["findings"]
    assert _at_or_above_high(report) == []
    assert {f["checkId"] for f in report["findings"]} <= {"KH-RBAC-011"}


@pytest.mark.parametrize("command", [("scanner-rbac", "--serviceaccount", "kubehipaa/kubehipaa-scanner"),
                                     ("cronjob", "--image", IMAGE, "--create-namespace")])
def test_our_own_scan_with_secrets_says_the_scanner_reads_secrets(tmp_path: Path, command: tuple[str, ...]) -> None:
    """Reading Secrets is what the role grants: the one high finding is KH-RBAC-005 on the binding, and it
    stays (an honest report of the identity), never hidden by the generator."""
    path = tmp_path / "out.yaml"
    assert _gen(*command, "-o", str(path))[0] == 0
    code, report = _scan_json(path)
    assert code == 1
    assert _at_or_above_high(report) == [("KH-RBAC-005", "ClusterRoleBinding")]


def test_the_role_alone_passes_our_own_scan(tmp_path: Path) -> None:
    path = tmp_path / "role.yaml"
    assert _gen("scanner-rbac", "-o", str(path))[0] == 0
    code, report = _scan_json(path)
    assert code == 0 and report["findings"] == []


def test_the_scanner_pod_is_pss_restricted(tmp_path: Path) -> None:
    path = tmp_path / "cron.yaml"
    assert _gen("cronjob", "--image", IMAGE, "-o", str(path))[0] == 0
    res = runner.invoke(app, ["pss", "evaluate", str(path), "--level", "restricted", "--format", "json"])
    assert res.exit_code == 0, res.stdout + res.stderr
    cron = next(d for d in _docs(path.read_text()) if d["kind"] == "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    ctx = pod["containers"][0]["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is True and pod["serviceAccountName"] == "kubehipaa-scanner"


def test_cronjob_runs_a_cluster_scan_into_the_claim() -> None:
    docs = scanner_cronjob(CronJobOptions(image=IMAGE, cluster_name="prod-east"))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "PersistentVolumeClaim", "CronJob"]
    container = docs[-1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["kubehipaa"]
    assert container["args"][:2] == ["scan", "--cluster"] and "/history/$(POD_NAME).json" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["KUBEHIPAA_CLUSTER_NAME"]["value"] == "prod-east"
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # the args the CronJob runs are accepted by today's `scan` (history options excepted: issue 15)
    res = runner.invoke(app, [*container["args"][:-2], "--help"])
    assert res.exit_code == 0


def test_history_url_comes_from_a_secret_reference() -> None:
    docs = scanner_cronjob(CronJobOptions(image=IMAGE, history=HistoryTarget("history-db", "dsn")))
    assert "PersistentVolumeClaim" not in [d["kind"] for d in docs]
    container = docs[-1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["KUBEHIPAA_HISTORY_URL"] == {"name": "KUBEHIPAA_HISTORY_URL", "valueFrom": {
        "secretKeyRef": {"name": "history-db", "key": "dsn"}}}
    args = container["args"]
    assert args[args.index("--history-url") + 1] == "$(KUBEHIPAA_HISTORY_URL)" and "--save" in args


@pytest.mark.parametrize("url", ["postgresql://scan:hunter2-pw@db.example/kubehipaa",
                                 "postgresql://db.example/kubehipaa?user=scan&password=hunter2-pw"])
def test_history_url_with_a_password_is_refused_and_never_printed(url: str) -> None:
    code, out, err = _gen("cronjob", "--image", IMAGE, "--history-url", url)
    assert code == 2
    assert "--history-secret" in err
    assert "hunter2-pw" not in out + err


@pytest.mark.parametrize(("args", "message"), [
    (("scanner-rbac", "--serviceaccount", "no-slash"), "NAMESPACE/NAME"),
    (("scanner-rbac", "--name", "Bad_Name"), "not a valid Kubernetes name"),
    (("cronjob", "--image", IMAGE, "-n", "Bad"), "not a valid Kubernetes name"),
    (("cronjob", "--image", IMAGE, "--history-secret", "s", "--history-url", "postgresql://h/db"), "not both"),
    (("cronjob",), "--image"),
    (("cronjob", "--image", IMAGE, "--schedule", "every day"), "5 cron fields"),
])
def test_bad_options_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    code, _, err = _gen(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_subject_kinds_in_the_binding() -> None:
    code, out, _ = _gen("scanner-rbac", *RBAC_VARIANTS["bound"])
    assert code == 0
    binding = _docs(out)[1]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kubehipaa-scanner", "namespace": "kubehipaa"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane@hospital.org"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "sec-scanners"},
    ]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "kubehipaa-scanner"}
