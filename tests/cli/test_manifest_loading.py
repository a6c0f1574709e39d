"""Every manifest-reading command loads the same way (issue 11, req. 3 and 5).

* No namespace means the namespace it will be applied to, in every check and engine: a file without
  metadata.namespace gives the same findings as the same file with `namespace: default` written in, and
  `--namespace` (`--manifest-namespace`) works like `kubectl apply -n`.
* One bad file never hides the good ones: each command still answers for the rest, names each unreadable
  file (file:line, one line each) and exits 2 at the end; duplicates and Kustomize Components are not fatal.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import KubehipaaError

DATA = Path(__file__).parent / "data"
BOUTIQUE = DATA / "boutique"
ARGOCD = DATA / "argocd" / "install.yaml"

APP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: clinical
  labels: {kubehipaa.io/phi: "true"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: clinical}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      serviceAccountName: app
      containers: [{name: api, image: "registry.example/api:1.0", ports: [{containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: clinical}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example/web:1.0"}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: clinical}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: clinical}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: clinical}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: app, namespace: clinical}]
"""

TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-worker
  labels:
    {{- include "chart.labels" . | nindent 4 }}
"""

AUDIT_EVENT = json.dumps({
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a1",
    "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/clinical/secrets", "verb": "list",
    "user": {"username": "system:serviceaccount:clinical:app"},
    "objectRef": {"resource": "secrets", "namespace": "clinical", "apiVersion": "v1"},
    "responseStatus": {"code": 200},
    "requestReceivedTimestamp": "2026-01-01T00:00:00Z", "stageTimestamp": "2026-01-01T00:00:00Z",
}) + "\n"


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def error_lines(res) -> list[str]:  # type: ignore[no-untyped-def]
    """The `error:` lines the user sees (an InputError raised out of a command is printed by main())."""
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    if isinstance(res.exception, KubehipaaError):
        lines.append(f"error: {res.exception}")
    return lines


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "app.yaml").write_text(APP)
    (root / "chart" / "templates").mkdir(parents=True)
    (root / "chart" / "templates" / "worker.yaml").write_text(TEMPLATE)
    (root / "chart" / "templates" / "cron.yaml").write_text("{{- if .Values.cron }}\n" + TEMPLATE + "{{- end }}\n")
    (tmp_path / "audit.log").write_text(AUDIT_EVENT)
    return root


COMMANDS = {
    "scan": ["scan", "{tree}", "-f", "json"],
    "pss evaluate": ["pss", "evaluate", "{tree}"],
    "pss namespaces": ["pss", "namespaces", "{tree}"],
    "pss dry-run": ["pss", "dry-run", "{tree}", "-n", "clinical"],
    "netpol connlist": ["netpol", "connlist", "{tree}"],
    "netpol can-reach": ["netpol", "can-reach", "clinical/web", "clinical/api", "{tree}"],
    "netpol exposure": ["netpol", "exposure", "{tree}", "-n", "clinical"],
    "netpol diff": ["netpol", "diff", "{tree}/app", "{tree}"],
    "rbac who-can": ["rbac", "who-can", "get", "secrets", "-n", "clinical", "{tree}"],
    "rbac can-i": ["rbac", "can-i", "get", "secrets", "-n", "clinical", "--as",
                   "system:serviceaccount:clinical:app", "{tree}"],
    "rbac review": ["rbac", "review", "{tree}", "-n", "clinical", "-f", "json"],
    "rbac escalation": ["rbac", "escalation", "{tree}"],
    "rbac risks": ["rbac", "risks", "{tree}"],
    "rbac unused": ["rbac", "unused", "{tree}", "{audit}"],
}


@pytest.mark.parametrize("argv", list(COMMANDS.values()), ids=list(COMMANDS))
def test_unreadable_files_are_named_one_line_each_and_the_rest_is_answered(tree: Path, argv: list[str]) -> None:
    """Issue 11: `pss evaluate` exited 2 with no output for 128 workloads beside 6 Helm templates."""
    args = [a.replace("{tree}", str(tree)).replace("{audit}", str(tree.parent / "audit.log")) for a in argv]
    res = run(*args)
    assert res.exit_code == 2, res.stderr
    if argv[:2] != ["netpol", "diff"]:  # diff answers "no difference" with no line at all
        assert res.stdout.strip(), "the readable files must still be answered for"
    err = res.stderr.splitlines()
    for name in ("cron.yaml", "worker.yaml"):
        named = [line for line in err if re.search(rf"templates/{name}:\d+: malformed YAML", line)
                 and not line.startswith("error:")]
        assert len(named) == 1 and named[0].startswith("warning:"), res.stderr
        assert "render it first" in named[0]
    errors = error_lines(res)
    assert len(errors) == 1 and "2 input problem(s) (first: " in errors[0], res.stderr
    assert "Traceback" not in res.output


def test_nothing_readable_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TEMPLATE)
    for argv in (["scan"], ["pss", "evaluate"], ["netpol", "connlist"], ["rbac", "escalation"]):
        res = run(*argv, str(tmp_path))
        assert res.exit_code == 2 or isinstance(res.exception, KubehipaaError)
        errors = error_lines(res)
        assert len(errors) == 1 and "t.yaml:4: malformed YAML" in errors[0], res.stderr


POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny, namespace: clinical}}
spec: {{podSelector: {{}}, policyTypes: [Ingress{egress}]}}
"""


def test_duplicate_network_policy_in_two_variants_keeps_the_network_checks(tmp_path: Path) -> None:
    """Issue 11: the same NetworkPolicy name in two variants of one app disabled four network checks."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "app.yaml").write_text(APP)
    for variant, egress in (("v1", ", Egress"), ("v2", "")):
        (tmp_path / variant).mkdir()
        (tmp_path / variant / "netpol.yaml").write_text(POLICY.format(egress=egress))
    res = run("scan", str(tmp_path), "-f", "json", "--fail-on", "never")
    assert res.exit_code == 0, res.stderr
    assert "could not run" not in res.stderr
    report = json.loads(res.stdout)
    assert report["errors"] == []
    [line] = [x for x in res.stderr.splitlines() if "default-deny" in x]
    assert line.startswith(f"warning: {tmp_path}/v1/netpol.yaml:1: NetworkPolicy clinical/default-deny is defined "
                           f"again at {tmp_path}/v2/netpol.yaml:1")
    # the network checks ran, on the later (v2, Ingress-only) policy: clinical has no default-deny egress
    [net001] = [f for f in report["findings"] if f["checkId"] == "KH-NET-001"]
    assert "egress" in net001["message"].lower()
    res = run("netpol", "connlist", str(tmp_path))
    assert res.exit_code == 0 and "default-deny" in res.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_a_kustomize_component_directory_does_not_fail_the_scan(tmp_path: Path) -> None:
    comp = tmp_path / "kustomize" / "components" / "network-policies"
    comp.mkdir(parents=True)
    (comp / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [np.yaml]\n")
    (comp / "np.yaml").write_text(POLICY.format(egress=""))
    (tmp_path / "app.yaml").write_text(APP)
    res = run("scan", str(tmp_path), "--fail-on", "never")
    assert res.exit_code == 0, res.stderr
    [note] = [x for x in res.stderr.splitlines() if "network-policies" in x]
    assert note.startswith("note: ") and "Kustomize Component" in note


def _findings(path: Path, *extra: str) -> tuple[Counter[tuple[str, str, str, str, str]], dict]:
    res = run("scan", str(path), "-c", str(DATA / "boutique-phi.kubehipaa.yaml"), "-f", "json", *extra)
    assert res.exit_code in (0, 1), res.stderr
    report = json.loads(res.stdout)
    found = Counter((f["checkId"], f["severity"], f["resource"]["kind"], str(f["resource"]["namespace"]),
                     f["message"]) for f in report["findings"])
    return found, report


def test_a_file_without_namespaces_is_judged_as_applied_to_default(tmp_path: Path) -> None:
    """Issue 11: with PHI namespace `default`, one file gave 13 highs without the field and 63 with it."""
    text = (BOUTIQUE / "app.yaml").read_text()
    written = tmp_path / "with-namespace.yaml"
    written.write_text(re.sub(r"(?m)^  name: (.*)$", r"  name: \1\n  namespace: default", text))
    without, report = _findings(BOUTIQUE / "app.yaml")
    with_ns, report_ns = _findings(written)
    # KH-WL-012 says how the namespace was chosen; everything else is the same finding, word for word
    assert {k: v for k, v in without.items() if k[0] != "KH-WL-012"} == {
        k: v for k, v in with_ns.items() if k[0] != "KH-WL-012"}
    assert report["summary"]["bySeverity"] == report_ns["summary"]["bySeverity"]
    assert report["summary"]["bySeverity"]["high"] >= 10
    assert "None/" not in json.dumps(report)
    assert all(f["resource"]["namespaceAssumed"] for f in report["findings"] if f["resource"]["namespace"])
    assert not any(f["resource"]["namespaceAssumed"] for f in report_ns["findings"])


def test_namespace_option_places_objects_and_is_said_once(tmp_path: Path) -> None:
    res = run("scan", str(BOUTIQUE / "app.yaml"), "--namespace", "shop", "-f", "json", "--fail-on", "never")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert {f["resource"]["namespace"] for f in report["findings"]} == {"shop"}
    said = [x for x in res.stderr.splitlines() if "had no namespace" in x]
    assert said == ["warning: 8 object(s) had no namespace; assumed shop (as given)"]
    table = run("scan", str(BOUTIQUE / "app.yaml"), "-n", "shop", "--fail-on", "never").stdout
    assert "Service/shop/frontend-external (ns assumed)" in table.replace("\n", " ") or "(ns assumed)" in table


def test_namespace_option_refuses_an_object_of_another_namespace_like_kubectl(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(APP)
    res = run("scan", str(tmp_path), "--namespace", "shop", "-f", "json", "--fail-on", "never")
    assert res.exit_code == 2
    refused = [x for x in res.stderr.splitlines()
               if "does not match the namespace 'shop'" in x and x.startswith("warning:")]
    assert len(refused) == 5 and refused[0].startswith(f"warning: {tmp_path}/app.yaml:7: Deployment clinical/api")
    assert json.loads(res.stdout)["findings"]  # still analysed, in the namespace they name
    assert run("scan", str(tmp_path), "--namespace", "clinical", "--fail-on", "never").exit_code == 0


def test_argocd_escalation_needs_the_namespace_it_is_applied_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: `rbac escalation` on argo-cd's install.yaml found nothing until a namespace was written in;
    with -n argocd: argocd-server -> create Jobs -> run as the application controller (cluster-admin)."""
    monkeypatch.setenv("COLUMNS", "200")  # the text is a table fitted to the width: one step a line at 200
    res = run("rbac", "escalation", str(ARGOCD), "-n", "argocd", "-f", "json")
    assert res.exit_code == 1, res.stderr
    paths = json.loads(res.stdout)["paths"]
    [path] = [p for p in paths if p["identity"] == "ServiceAccount argocd/argocd-server"]
    assert [hop["how"] for hop in path["path"]] == [
        "create jobs.batch in argocd", "run the pod as argocd-application-controller", "is cluster-admin-equivalent"]
    assert path["target"] == "cluster-admin-equivalent"
    lines = run("rbac", "escalation", str(ARGOCD), "--manifest-namespace", "argocd").stdout.splitlines()
    [first] = [i for i, line in enumerate(lines) if "ServiceAccount argocd/argocd-server" in line]
    assert "--[create jobs.batch in argocd]--> a pod in argocd" in lines[first]
    assert ("--[run the pod as argocd-application-controller]--> ServiceAccount argocd/argocd-application-controller"
            in lines[first + 1])
    # applied to default, the Role and its Jobs are in default, where the controller's account is not
    res = run("rbac", "escalation", str(ARGOCD))
    assert res.exit_code == 0 and "no escalation paths found" in res.stdout
    assert "6 object(s) had no namespace; assumed default" in res.stderr


def test_rbac_request_namespace_and_manifest_namespace_are_separate_options() -> None:
    # -n is the namespace of the request; --manifest-namespace places the file's objects
    res = run("rbac", "who-can", "create", "jobs.batch", "-n", "argocd", "--manifest-namespace", "argocd",
              str(ARGOCD), "-f", "json")
    assert res.exit_code == 0, res.stderr
    names = {s["subject"]["name"] for s in json.loads(res.stdout)["subjects"]}
    assert "argocd-server" in names
    res = run("rbac", "can-i", "create", "jobs.batch", "-n", "argocd", "--as",
              "system:serviceaccount:argocd:argocd-server", "--manifest-namespace", "argocd", str(ARGOCD))
    assert res.exit_code == 0 and res.stdout.startswith("yes")
    res = run("rbac", "can-i", "create", "jobs.batch", "-n", "argocd", "--as",
              "system:serviceaccount:argocd:argocd-server", str(ARGOCD))
    assert res.exit_code == 1  # applied to default, the Role grants in default only


def test_pss_and_netpol_take_the_manifest_namespace_too() -> None:
    res = run("pss", "evaluate", str(BOUTIQUE / "app.yaml"), "-n", "shop", "-f", "json")
    assert {r["namespace"] for r in json.loads(res.stdout)} == {"shop"}
    res = run("pss", "dry-run", str(BOUTIQUE / "app.yaml"), "-n", "shop", "--manifest-namespace", "shop",
              "-f", "json")
    assert {r["name"] for r in json.loads(res.stdout)} == {"frontend", "redis-cart"}
    res = run("netpol", "connlist", str(BOUTIQUE / "app.yaml"), "--namespace", "shop")
    assert res.exit_code == 0 and "shop/frontend[Deployment] => shop/redis-cart[Deployment]" in res.stdout
    assert "default/" not in res.stdout
