"""Wrong-typed control-plane configuration: `scan --control-plane` and `audit-policy check` never crash.

A control-plane directory in the kubeadm layout (`manifests/kube-apiserver.yaml`, `manifests/etcd.yaml`, the
EncryptionConfiguration and audit Policy the API server's flags point to) and a KubeletConfiguration, all
hardened (`examples/clinic-hardened/control-plane`), with one to three fields of one or more of them set to a
value of a wrong JSON type: the static Pods through the published Pod schema, the other three through the
typed descriptions of `tests/fuzz/typed.py` (upstream's Go types). Every control-plane check must judge the
rest or report the file as invalid (a finding, or exit 2 naming file:line), never fail (a check error) or
crash.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import EXAMPLES
from tests.fuzz import typed
from tests.fuzz.harness import fuzz_settings, run, workdir, write
from tests.fuzz.manifests import to_yaml
from tests.fuzz.schema import Target, kind_fields, kind_schema, mutate, walk

HARDENED = EXAMPLES / "clinic-hardened" / "control-plane"


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((HARDENED / name).read_text())


@cache
def bases() -> dict[str, tuple[dict[str, Any], Target]]:
    """file name in the control-plane directory -> (valid document, what can be mutated in it)."""
    enc = _load("encryption-config.yaml")
    # Every provider type, so each one's fields are read (the hardened file has only KMS v2).
    enc["resources"].append({"resources": ["configmaps.", "*.apps"], "providers": [
        {"aesgcm": {"keys": [{"name": "k1", "secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}},
        {"aescbc": {"keys": [{"name": "k2", "secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}},
        {"secretbox": {"keys": [{"name": "k3", "secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}},
        {"identity": {}}]})
    docs = {
        "manifests/kube-apiserver.yaml": (_load("kube-apiserver.yaml"), kind_schema("Pod"), kind_fields("Pod")),
        "manifests/etcd.yaml": (_load("etcd.yaml"), kind_schema("Pod"), kind_fields("Pod")),
        "encryption-config.yaml": (enc, typed.ENCRYPTION_CONFIGURATION, walk(typed.ENCRYPTION_CONFIGURATION)),
        "audit-policy.yaml": (_load("audit-policy.yaml"), typed.POLICY, walk(typed.POLICY)),
        "kubelet-config.yaml": (_load("kubelet-config.yaml"), typed.KUBELET_CONFIGURATION,
                                walk(typed.KUBELET_CONFIGURATION)),
    }
    return {name: (doc, Target.of(root, fields, doc)) for name, (doc, root, fields) in docs.items()}


@st.composite
def control_plane(draw: st.DrawFn, only: str | None = None) -> dict[str, dict[str, Any]]:
    """The five files, one or more of them (or `only` that one) mutated."""
    names = sorted(bases())
    bad = [only] if only else draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    out = {}
    for name in names:
        doc, target = bases()[name]
        doc = copy.deepcopy(doc)
        if name in bad:
            mutate(draw, doc, target, valid=draw(st.integers(0, 4)) == 0)
        out[name] = doc
    return out


def _write(files: dict[str, dict[str, Any]]) -> str:
    for name, doc in files.items():
        write(f"cp/{name}", to_yaml([doc]))
    return str(workdir() / "cp")


@fuzz_settings(40)
@given(control_plane())
def test_control_plane_scan_survives_wrong_types(files: dict[str, dict[str, Any]]) -> None:
    cp = _write(files)
    what = json.dumps(files)[:20_000]
    argv = ["scan", "--control-plane", cp, "--kubelet-config", f"{cp}/kubelet-config.yaml", "--fail-on", "never"]
    res = run([*argv, "-f", "json"], what=what)
    if res.out:  # else a file holds nothing usable: one error line naming it, exit 2 (checked by run)
        report = json.loads(res.out)
        assert not report["errors"], (report["errors"], what)  # no check lost to a wrong type
    table = run(argv, what=what)
    assert (table.code == 2) == (res.code == 2), (table.err, res.err)


@fuzz_settings(40)
@given(control_plane(only="audit-policy.yaml"))
def test_audit_policy_check_survives_wrong_types(files: dict[str, dict[str, Any]]) -> None:
    path = write("cp/audit-policy.yaml", to_yaml([files["audit-policy.yaml"]]))
    what = json.dumps(files["audit-policy.yaml"])[:20_000]
    for fmt in ("table", "json"):
        run(["audit-policy", "check", path, "-n", "clinical", "-f", fmt], what=what)
