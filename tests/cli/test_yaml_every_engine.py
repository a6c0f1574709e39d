"""Valid YAML is read the way Kubernetes reads it by every engine command (issue 11, requirement 4).

kube-prometheus's AlertmanagerConfig CRD carries `- =` (YAML 1.1's "value" tag): `scan` exited 2 and skipped
the rest of the file, every other engine refused the directory, and a `kubectl get -o yaml` List on stdin
was lost. Here the same objects, as a directory beside that CRD and as one List on stdin, must give every
command the same answer and no input problem. (The scalar corpus itself: tests/sources/test_yaml_corpus.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: alertmanagerconfigs.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: AlertmanagerConfig, plural: alertmanagerconfigs}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        properties:
          matchType:
            enum:
            - '!='
            - =
            - =~
            - '!~'
            type: string
"""
# The app: a privileged web Deployment reached by anything, a Role reading Secrets bound to its account.
# Scalars Kubernetes reads its own way: `on` and `yes` are booleans, `=` a string, 0755 octal.
APP_ITEMS = """\
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: clinical, labels: {op: =}}
  spec:
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec:
        serviceAccountName: web
        containers:
        - name: web
          image: registry.example/web:1.0
          securityContext: {privileged: on, allowPrivilegeEscalation: yes}
        volumes: [{name: cfg, configMap: {name: cfg, defaultMode: 0755}}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata: {name: reader, namespace: clinical}
  rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: reader, namespace: clinical}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
  subjects: [{kind: ServiceAccount, name: web, namespace: clinical}]
"""
LIST = "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n" + APP_ITEMS + "- " + "\n  ".join(
    CRD.rstrip("\n").splitlines()) + "\n"

# command -> (argv, exit code, a piece of the answer that needs the objects after the CRD)
COMMANDS = {
    "scan": (["scan", "{src}", "-f", "json", "--fail-on", "never"], 0, '"checkId": "KH-WL-001"'),
    "pss evaluate": (["pss", "evaluate", "{src}", "-f", "json"], 1, "privileged"),
    "netpol connlist": (["netpol", "connlist", "{src}"], 0, "clinical/web[Deployment]"),
    "rbac who-can": (["rbac", "who-can", "list", "secrets", "-n", "clinical", "{src}", "-f", "json"], 0,
                     '"name": "web"'),
    "rbac risks": (["rbac", "risks", "{src}", "-f", "json"], 1, "secrets"),
}


def _run(argv: list[str], src: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [a.replace("{src}", src) for a in argv], input=stdin)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    # the List's items as documents of one file, after the CRD: nothing after `- =` may be lost
    items = ["  " + item for item in APP_ITEMS[2:].split("\n- ")]
    docs = ["\n".join(line[2:] for line in item.splitlines()) for item in items]
    (tmp_path / "crd.yaml").write_text(CRD + "---\n" + "\n---\n".join(docs) + "\n")
    return tmp_path


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_engine_reads_the_equals_sign_file_and_a_list_on_stdin_alike(tree: Path, name: str) -> None:
    argv, code, piece = COMMANDS[name]
    from_dir = _run(argv, str(tree))
    from_stdin = _run(argv, "-", LIST)
    for res in (from_dir, from_stdin):
        assert res.exit_code == code, (name, res.stderr)
        assert "malformed" not in res.stderr and "skipped" not in res.stderr, res.stderr
        assert "Traceback" not in res.output and piece in res.stdout
    assert _answer(from_dir.stdout) == _answer(from_stdin.stdout)


# Where an answer came from (file, line) and when it was made differ between a file and stdin; nothing else may.
_PROVENANCE = {"file", "line", "generatedAt", "integrity", "paths", "inputs", "location", "locations"}


def _answer(stdout: str) -> object:
    try:
        doc = json.loads(stdout)
    except ValueError:
        return stdout
    return _without_provenance(doc)


def _without_provenance(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_provenance(v) for k, v in value.items() if k not in _PROVENANCE}
    if isinstance(value, list):
        return [_without_provenance(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"\(([^()]*:\d+)\)", "(<src>)", value)  # "(crd.yaml:23)" in rbac messages
    return value


def test_the_scan_sees_the_scalars_as_kubernetes_does(tree: Path) -> None:
    res = _run(COMMANDS["scan"][0], str(tree))
    found = {f["checkId"] for f in json.loads(res.stdout)["findings"]}
    assert {"KH-WL-001", "KH-RBAC-005"} <= found  # privileged: on, and the Secret reader
