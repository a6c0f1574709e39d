"""Property-based tests: the lattice and monotonicity laws the Pod Security Standards must obey.

Pods are generated from the fields the checks read, with good, bad and absent values. Windows pods never
carry Linux-only fields (capabilities, seccomp, allowPrivilegeEscalation): the API server rejects such pods
at validation, before admission, and upstream's restricted checks rely on that.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubehipaa.engines.pss import BY_ID, CHECKS, MAX_MINOR, Level, Version, evaluate, is_allowed

ABSENT = object()


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(ABSENT), strategy)


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    if value is not ABSENT:
        d[key] = value


profile = st.fixed_dictionaries({"type": st.sampled_from(["RuntimeDefault", "Localhost", "Unconfined"])})
selinux = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["container_t", "container_engine_t", "spc_t", ""]),
        "user": st.sampled_from(["", "system_u"]),
        "role": st.sampled_from(["", "system_r"]),
    },
)
probe = st.fixed_dictionaries(
    {
        "httpGet": st.fixed_dictionaries(
            {"port": st.just(8080)}, optional={"host": st.sampled_from(["", "h.example"])}
        )
    }
)


@st.composite
def container(draw: st.DrawFn, name: str, linux: bool) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "img"}
    sc: dict[str, Any] = {}
    _put(sc, "privileged", draw(_opt(st.booleans())))
    _put(sc, "runAsNonRoot", draw(_opt(st.booleans())))
    _put(sc, "runAsUser", draw(_opt(st.sampled_from([0, 1000]))))
    _put(sc, "procMount", draw(_opt(st.sampled_from(["Default", "Unmasked"]))))
    _put(sc, "seLinuxOptions", draw(_opt(selinux)))
    _put(sc, "appArmorProfile", draw(_opt(profile)))
    _put(sc, "windowsOptions", draw(_opt(st.fixed_dictionaries({"hostProcess": st.booleans()}))))
    if linux:
        _put(sc, "allowPrivilegeEscalation", draw(_opt(st.booleans())))
        _put(sc, "seccompProfile", draw(_opt(profile)))
        caps: dict[str, Any] = {}
        _put(caps, "drop", draw(_opt(st.lists(st.sampled_from(["ALL", "NET_RAW"]), max_size=2))))
        _put(
            caps,
            "add",
            draw(_opt(st.lists(st.sampled_from(["NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN"]), max_size=2))),
        )
        if caps or draw(st.booleans()):
            sc["capabilities"] = caps
    if sc or draw(st.booleans()):
        c["securityContext"] = sc
    _put(
        c,
        "ports",
        draw(
            _opt(
                st.lists(
                    st.fixed_dictionaries(
                        {"containerPort": st.just(80)}, optional={"hostPort": st.sampled_from([0, 8080])}
                    ),
                    max_size=2,
                )
            )
        ),
    )
    _put(c, "readinessProbe", draw(_opt(probe)))
    return c


@st.composite
def pods(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    windows = draw(st.booleans()) and draw(st.booleans())
    linux = not windows
    spec: dict[str, Any] = {
        "containers": [draw(container(f"c{i}", linux)) for i in range(draw(st.integers(1, 2)))],
    }
    if draw(st.booleans()):
        spec["initContainers"] = [draw(container("init", linux))]
    if windows:
        spec["os"] = {"name": "windows"}
    elif draw(st.booleans()):
        spec["os"] = {"name": "linux"}
    for key in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        _put(spec, key, draw(_opt(st.booleans())))
    psc: dict[str, Any] = {}
    _put(psc, "runAsNonRoot", draw(_opt(st.booleans())))
    _put(psc, "runAsUser", draw(_opt(st.sampled_from([0, 1000]))))
    _put(psc, "seLinuxOptions", draw(_opt(selinux)))
    _put(psc, "appArmorProfile", draw(_opt(profile)))
    if linux:
        _put(psc, "seccompProfile", draw(_opt(profile)))
    _put(
        psc,
        "sysctls",
        draw(
            _opt(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "name": st.sampled_from(
                                [
                                    "kernel.shm_rmid_forced",
                                    "net.ipv4.tcp_rmem",
                                    "net.ipv4.tcp_notsent_lowat",
                                    "kernel.msgmax",
                                ]
                            ),
                            "value": st.just("1"),
                        }
                    ),
                    max_size=2,
                )
            )
        ),
    )
    _put(psc, "windowsOptions", draw(_opt(st.fixed_dictionaries({"hostProcess": st.booleans()}))))
    if psc or draw(st.booleans()):
        spec["securityContext"] = psc
    volumes = draw(
        st.lists(
            st.sampled_from(
                [
                    {"name": "e", "emptyDir": {}},
                    {"name": "s", "secret": {"secretName": "x"}},
                    {"name": "h", "hostPath": {"path": "/"}},
                    {"name": "n", "nfs": {"server": "n", "path": "/"}},
                ]
            ),
            max_size=3,
            unique_by=lambda v: v["name"],
        )
    )
    if volumes:
        spec["volumes"] = copy.deepcopy(volumes)
    meta: dict[str, Any] = {"name": "p"}
    annotations: dict[str, str] = {}
    if draw(st.booleans()):
        annotations["container.apparmor.security.beta.kubernetes.io/c0"] = draw(
            st.sampled_from(["runtime/default", "localhost/x", "unconfined"])
        )
    if draw(st.booleans()):
        annotations["seccomp.security.alpha.kubernetes.io/pod"] = draw(
            st.sampled_from(["runtime/default", "unconfined"])
        )
    if annotations:
        meta["annotations"] = annotations
    return meta, spec


versions = st.one_of(st.integers(0, MAX_MINOR + 3).map(Version), st.just(Version(MAX_MINOR, latest=True)))
# no deadline / too_slow health check: CI machines are shared and generation time varies with their load
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(SETTINGS, max_examples=40)


def _ids(meta: dict[str, Any], spec: dict[str, Any], level: Level, version: Version) -> set[str]:
    return set(evaluate(meta, spec, level, version).checks)


@SETTINGS
@given(pods(), versions)
def test_restricted_allowed_implies_baseline_allowed(pod: tuple[dict, dict], version: Version) -> None:
    meta, spec = pod
    restricted = evaluate(meta, spec, Level.RESTRICTED, version)
    baseline = evaluate(meta, spec, Level.BASELINE, version)
    if restricted.allowed:
        assert baseline.allowed, baseline.forbidden_message()
    if not baseline.allowed:
        assert not restricted.allowed
    assert evaluate(meta, spec, Level.PRIVILEGED, version).allowed


@QUICK
@given(pods(), versions)
def test_baseline_violations_reappear_at_restricted_unless_overridden(
    pod: tuple[dict, dict], version: Version
) -> None:
    meta, spec = pod
    restricted = _ids(meta, spec, Level.RESTRICTED, version)
    for cid in _ids(meta, spec, Level.BASELINE, version):
        overriders = {
            c.id for c in CHECKS if (r := c.revision_for(version.effective_minor)) and cid in r.overrides
        }
        assert cid in restricted or overriders & restricted, (cid, restricted)


# Leaves whose value makes a check fail: removing one must never make another check fail.
def _bad_selinux(opts: dict[str, Any]) -> bool:
    return opts.get("type") == "spc_t" or bool(opts.get("user")) or bool(opts.get("role"))


def _bad_profile(prof: Any) -> bool:
    return prof.get("type") == "Unconfined"


def _bad_security_context(sc: dict[str, Any]) -> list[str]:
    keys = []
    if sc.get("privileged") is True:
        keys.append("privileged")
    if sc.get("runAsUser") == 0:
        keys.append("runAsUser")
    if sc.get("runAsNonRoot") is False:
        keys.append("runAsNonRoot")
    if sc.get("allowPrivilegeEscalation") is True:
        keys.append("allowPrivilegeEscalation")
    if sc.get("procMount") == "Unmasked":
        keys.append("procMount")
    if "seLinuxOptions" in sc and _bad_selinux(sc["seLinuxOptions"]):
        keys.append("seLinuxOptions")
    for key in ("appArmorProfile", "seccompProfile"):
        if key in sc and _bad_profile(sc[key]):
            keys.append(key)
    if (sc.get("windowsOptions") or {}).get("hostProcess") is True:
        keys.append("windowsOptions")
    if set((sc.get("capabilities") or {}).get("add") or ()) - {"NET_BIND_SERVICE"}:
        keys.append("capabilities")
    if any(s["name"] == "kernel.msgmax" for s in sc.get("sysctls") or ()):
        keys.append("sysctls")
    return keys


def _violating_leaves(meta: dict[str, Any], spec: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    leaves: list[tuple[dict[str, Any], str]] = [
        (spec, k) for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True
    ]
    psc = spec.get("securityContext") or {}
    leaves += [(psc, k) for k in _bad_security_context(psc)]
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        sc = c.get("securityContext") or {}
        leaves += [(sc, k) for k in _bad_security_context(sc)]
        leaves += [(p, "hostPort") for p in c.get("ports", []) if p.get("hostPort")]
        if c.get("readinessProbe", {}).get("httpGet", {}).get("host"):
            leaves.append((c["readinessProbe"]["httpGet"], "host"))
    leaves += [(v, k) for v in spec.get("volumes", []) for k in ("hostPath", "nfs") if k in v]
    annotations = meta.get("annotations", {})
    leaves += [(annotations, k) for k, v in annotations.items() if v == "unconfined"]
    return leaves


@SETTINGS
@given(pods(), versions, st.sampled_from([Level.BASELINE, Level.RESTRICTED]), st.data())
def test_removing_a_violating_field_never_adds_a_violation(
    pod: tuple[dict, dict], version: Version, level: Level, data: st.DataObject
) -> None:
    meta, spec = copy.deepcopy(pod)
    leaves = _violating_leaves(meta, spec)
    if not leaves:
        return
    before = _ids(meta, spec, level, version)
    holder, key = data.draw(st.sampled_from(leaves))
    del holder[key]
    after = _ids(meta, spec, level, version)
    assert after <= before, (key, after - before)


@QUICK
@given(pods(), versions, st.sampled_from(list(Level)))
def test_evaluation_is_pure_and_ordered(pod: tuple[dict, dict], version: Version, level: Level) -> None:
    meta, spec = pod
    snapshot = copy.deepcopy(pod)
    verdict = evaluate(meta, spec, level, version)
    assert (meta, spec) == snapshot  # never mutates its input
    assert verdict == evaluate(meta, spec, level, version)  # deterministic
    assert is_allowed(meta, spec, level, version) is verdict.allowed
    order = [c.id for c in CHECKS]
    assert list(verdict.checks) == sorted(verdict.checks, key=order.index)
    for v in verdict.violations:
        assert v.reason and v.detail
        assert BY_ID[v.check].min_minor <= version.effective_minor


@QUICK
@given(pods())
def test_versions_beyond_newest_behave_as_latest(pod: tuple[dict, dict]) -> None:
    meta, spec = pod
    latest = evaluate(meta, spec, Level.RESTRICTED, Version(MAX_MINOR, latest=True))
    assert latest.violations == evaluate(meta, spec, Level.RESTRICTED, Version(MAX_MINOR + 5)).violations
    assert latest.violations == evaluate(meta, spec, Level.RESTRICTED, Version(MAX_MINOR)).violations
