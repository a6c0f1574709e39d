"""Cross-check: the workload checks agree with the Pod Security Standards engine on random pod specs.

The PSS engine (`kubehipaa.engines.pss`) re-implements upstream pod-security-admission and has its own
conformance suite against upstream fixtures; for the fields both judge, a KH-WL check must fire exactly
when the corresponding PSS check rejects the pod at restricted/latest.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubehipaa.checks.registry import REGISTRY, all_checks
from kubehipaa.config import Config
from kubehipaa.engines.pss import parse_level, parse_version, violations
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan

all_checks()

# KH check(s) -> the PSS check id that means the same thing
PAIRS: dict[tuple[str, ...], str] = {
    ("KH-WL-001",): "privileged",
    ("KH-WL-002",): "hostNamespaces",
    ("KH-WL-003",): "hostPathVolumes",
    ("KH-WL-004", "KH-WL-005"): "capabilities_restricted",
    ("KH-WL-006",): "runAsNonRoot",
    ("KH-WL-007",): "runAsUser",
    ("KH-WL-008",): "allowPrivilegeEscalation",
    ("KH-WL-010",): "seccompProfile_restricted",
}
CHECKS = [REGISTRY[i] for ids in PAIRS for i in ids]
RESTRICTED = parse_level("restricted")
BASELINE = parse_level("baseline")
LATEST = parse_version("latest")


def maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from([None, *values])


def compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


seccomp = maybe([{"type": "RuntimeDefault"}, {"type": "Localhost", "localhostProfile": "p.json"},
                 {"type": "Unconfined"}])
capabilities = maybe([{"drop": ["ALL"]}, {"drop": ["NET_RAW"]}, {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                      {"add": ["SYS_ADMIN"], "drop": ["ALL"]}, {"add": ["CHOWN"]}, {}])
security_context = st.builds(
    lambda *v: compact(dict(zip(("privileged", "allowPrivilegeEscalation", "runAsNonRoot", "runAsUser",
                                 "seccompProfile", "capabilities"), v, strict=True))),
    maybe([True, False]), maybe([True, False]), maybe([True, False]), maybe([0, 1000]), seccomp, capabilities,
)
container = st.builds(
    lambda name, sc: compact({"name": name, "image": "registry.example.com/app:1@sha256:" + "e" * 64,
                              "securityContext": sc}),
    st.sampled_from(["a", "b", "c"]), st.one_of(st.none(), security_context),
)
pod_sc = st.builds(
    lambda *v: compact(dict(zip(("runAsNonRoot", "runAsUser", "seccompProfile"), v, strict=True))),
    maybe([True, False]), maybe([0, 1000]), seccomp,
)
spec = st.builds(
    lambda ctrs, init, psc, host, vols: compact({
        "containers": ctrs, "initContainers": init or None, "securityContext": psc or None, **host,
        "volumes": vols or None,
    }),
    st.lists(container, min_size=1, max_size=2),
    st.lists(container, max_size=1),
    pod_sc,
    st.fixed_dictionaries({}, optional={"hostNetwork": st.booleans(), "hostPID": st.booleans(),
                                        "hostIPC": st.booleans(), "hostUsers": st.booleans(),
                                        "os": st.sampled_from([{"name": "linux"}, {"name": "windows"}])}),
    st.lists(st.sampled_from([{"name": "h", "hostPath": {"path": "/var/log"}}, {"name": "e", "emptyDir": {}}]),
             max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(spec)
def test_workload_checks_agree_with_pss_engine(pod_spec: dict[str, Any]) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"}, "spec": pod_spec}
    inv = Inventory([K8sObject(pod, "p.yaml", 1)], Config())
    fired = {f.check_id for f in run_scan(inv, Config(), checks=CHECKS).findings}
    # at restricted, upstream's restrictedVolumes replaces hostPathVolumes: judge baseline ids at baseline
    rejected = {v.check for v in violations(pod["metadata"], pod_spec, RESTRICTED, LATEST)}
    rejected |= {v.check for v in violations(pod["metadata"], pod_spec, BASELINE, LATEST)}
    for ids, pss_id in PAIRS.items():
        assert bool(fired & set(ids)) == (pss_id in rejected), (ids, pss_id, pod_spec)
