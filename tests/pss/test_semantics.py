"""Exact wording and version behaviour of individual checks, on hand-written pods.

Expected strings follow upstream's message formats (pluralised nouns, quoted and sorted value sets, pod
before containers), so a user can grep for what `kubectl apply` prints.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubehipaa.engines.pss import (
    Level,
    PodSpecError,
    PolicyError,
    Version,
    evaluate,
    extract,
    parse_level,
    parse_version,
    policy_from_labels,
)
from kubehipaa.engines.pss.helpers import go_quote

B, R = Level.BASELINE, Level.RESTRICTED


def v(minor: int) -> Version:
    return Version(minor)


def ctr(name: str, **sc: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "img"}
    if sc:
        c["securityContext"] = sc
    return c


def detail(
    spec: dict[str, Any],
    check: str,
    level: Level = B,
    version: Version = v(37),
    meta: dict[str, Any] | None = None,
) -> tuple[str, str]:
    verdict = evaluate(meta or {}, spec, level, version)
    found = [x for x in verdict.violations if x.check == check]
    assert found, verdict.forbidden_message()
    return found[0].reason, found[0].detail


def test_host_ports_sorted_as_strings_and_pluralised() -> None:
    spec = {
        "containers": [
            {
                "name": "a",
                "ports": [{"containerPort": 1, "hostPort": 80}, {"containerPort": 2, "hostPort": 8080}],
            },
            {
                "name": "b",
                "ports": [{"containerPort": 3, "hostPort": 443}, {"containerPort": 4, "hostPort": 0}],
            },
            {"name": "c", "ports": [{"containerPort": 5}]},
        ]
    }
    assert detail(spec, "hostPorts") == ("hostPort", 'containers "a", "b" use hostPorts 443, 80, 8080')
    one = {"containers": [{"name": "a", "ports": [{"containerPort": 1, "hostPort": 80}]}]}
    assert detail(one, "hostPorts") == ("hostPort", 'container "a" uses hostPort 80')


def test_selinux_types_user_role() -> None:
    spec = {
        "securityContext": {"seLinuxOptions": {"type": "foo", "user": "u", "role": "r"}},
        "containers": [
            ctr("ok1", seLinuxOptions={"type": "container_t"}),
            ctr("x", seLinuxOptions={"type": "bar"}),
            ctr("y", seLinuxOptions={"user": "u"}),
        ],
    }
    assert detail(spec, "seLinuxOptions") == (
        "seLinuxOptions",
        'pod and containers "x", "y" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; '
        "user may not be set; role may not be set",
    )
    engine = {"containers": [ctr("e", seLinuxOptions={"type": "container_engine_t"})]}
    assert evaluate({}, engine, B, v(31)).allowed
    assert detail(engine, "seLinuxOptions", version=v(30))[1] == (
        'container "e" set forbidden securityContext.seLinuxOptions: type "container_engine_t"'
    )


def test_apparmor_fields_and_annotations() -> None:
    meta = {
        "annotations": {
            "container.apparmor.security.beta.kubernetes.io/a": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/c": "localhost/prof",
            "container.apparmor.security.beta.kubernetes.io/d": "",
            "unrelated": "unconfined",
        }
    }
    spec = {
        "securityContext": {"appArmorProfile": {"type": "Unconfined"}},
        "containers": [ctr("a", appArmorProfile={"type": "Localhost", "localhostProfile": "p"})],
    }
    assert detail(spec, "appArmorProfile", meta=meta) == (
        "forbidden AppArmor profiles",
        'pod and annotation must not set AppArmor profile type to "Unconfined", '
        '"container.apparmor.security.beta.kubernetes.io/a="unconfined""',
    )
    only_field = {"containers": [ctr("a", appArmorProfile={"type": "Unconfined"})]}
    assert detail(only_field, "appArmorProfile") == (
        "forbidden AppArmor profile",
        'container "a" must not set AppArmor profile type to "Unconfined"',
    )


def test_restricted_volumes_and_defaulting() -> None:
    spec = {
        "containers": [ctr("a")],
        "volumes": [
            {"name": "ok", "configMap": {"name": "x"}},
            {"name": "img", "image": {"reference": "r"}},
            {"name": "bare"},  # defaulted to emptyDir by the API server
            {"name": "h", "hostPath": {"path": "/"}},
            {"name": "n", "nfs": {"server": "s", "path": "/"}},
            {"name": "h2", "hostPath": {"path": "/x"}},
        ],
    }
    assert detail(spec, "restrictedVolumes", R) == (
        "restricted volume types",
        'volumes "h", "n", "h2" use restricted volume types "hostPath", "nfs"',
    )
    ids = evaluate({}, spec, R, v(37)).checks
    assert "hostPathVolumes" not in ids  # overridden by restrictedVolumes at restricted
    assert detail(spec, "hostPathVolumes") == ("hostPath volumes", 'volumes "h", "h2"')


def test_capabilities_restricted_both_clauses() -> None:
    spec = {
        "containers": [
            ctr("a", capabilities={"add": ["NET_BIND_SERVICE"]}),
            ctr("b", capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN", "CHOWN"]}),
        ]
    }
    assert detail(spec, "capabilities_restricted", R) == (
        "unrestricted capabilities",
        'container "a" must set securityContext.capabilities.drop=["ALL"]; '
        'container "b" must not include "CHOWN", "SYS_ADMIN" in securityContext.capabilities.add',
    )
    assert detail(spec, "capabilities_baseline") == (
        "non-default capabilities",
        'container "b" must not include "SYS_ADMIN" in securityContext.capabilities.add',
    )
    # before v1.22 restricted uses the baseline capabilities check instead
    assert "capabilities_baseline" in evaluate({}, spec, R, v(21)).checks


def test_run_as_non_root_explicit_then_implicit() -> None:
    explicit = {
        "securityContext": {"runAsNonRoot": False},
        "containers": [ctr("a", runAsNonRoot=False), ctr("b")],
    }
    assert detail(explicit, "runAsNonRoot", R) == (
        "runAsNonRoot != true",
        'pod and container "a" must not set securityContext.runAsNonRoot=false',
    )
    implicit = {"containers": [ctr("a"), ctr("b", runAsNonRoot=True), ctr("c")]}
    assert detail(implicit, "runAsNonRoot", R) == (
        "runAsNonRoot != true",
        'pod or containers "a", "c" must set securityContext.runAsNonRoot=true',
    )


def test_user_namespace_relaxations_start_at_1_35() -> None:
    spec = {
        "hostUsers": False,
        "securityContext": {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            ctr("a", allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]}, procMount="Unmasked")
        ],
    }
    assert set(evaluate({}, spec, R, v(35)).checks) == {"procMount_restricted"}
    assert set(evaluate({}, spec, R, v(34)).checks) == {"procMount", "runAsNonRoot", "runAsUser"}
    assert evaluate({}, spec, B, v(35)).allowed
    assert detail(spec, "procMount", B, v(34)) == (
        "procMount",
        'container "a" must not set securityContext.procMount to "Unmasked"',
    )


def test_seccomp_versions_and_windows_exemption() -> None:
    annotated = {"containers": [ctr("a")]}
    meta = {
        "annotations": {
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
            "container.seccomp.security.alpha.kubernetes.io/a": "docker/default",
        }
    }
    assert detail(annotated, "seccompProfile_baseline", B, v(18), meta) == (
        "seccompProfile",
        'forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined"',
    )
    assert evaluate(meta, annotated, B, v(19)).allowed  # annotations are not read from v1.19
    implicit = {
        "securityContext": {"runAsNonRoot": True},
        "containers": [ctr("a", allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]})],
    }
    assert detail(implicit, "seccompProfile_restricted", R) == (
        "seccompProfile",
        'pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
    )
    windows = {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}, "containers": [ctr("a")]}
    assert evaluate({}, windows, R, v(25)).allowed
    assert set(evaluate({}, windows, R, v(24)).checks) == {
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "seccompProfile_restricted",
    }


def test_windows_host_process_and_privileged() -> None:
    spec = {
        "securityContext": {"windowsOptions": {"hostProcess": True}},
        "containers": [
            ctr("a", windowsOptions={"hostProcess": True}, privileged=True),
            ctr("b", privileged=True),
        ],
    }
    assert detail(spec, "windowsHostProcess") == (
        "hostProcess",
        'pod and container "a" must not set securityContext.windowsOptions.hostProcess=true',
    )
    assert detail(spec, "privileged") == (
        "privileged",
        'containers "a", "b" must not set securityContext.privileged=true',
    )


def test_sysctls_grow_with_versions() -> None:
    def spec(*names: str) -> dict[str, Any]:
        return {
            "securityContext": {"sysctls": [{"name": n, "value": "1"} for n in names]},
            "containers": [ctr("a")],
        }

    assert detail(
        spec("kernel.msgmax", "net.ipv4.tcp_rmem", "net.core.somaxconn"), "sysctls", version=v(31)
    ) == ("forbidden sysctls", "kernel.msgmax, net.ipv4.tcp_rmem, net.core.somaxconn")
    for name, since in [
        ("net.ipv4.ip_local_reserved_ports", 27),
        ("net.ipv4.tcp_keepalive_time", 29),
        ("net.ipv4.tcp_wmem", 32),
        ("net.ipv4.tcp_notsent_lowat", 37),
    ]:
        assert evaluate({}, spec(name), B, v(since)).allowed, name
        assert not evaluate({}, spec(name), B, v(since - 1)).allowed, name


def test_probe_hosts_sorted_sets() -> None:
    spec = {
        "containers": [
            {
                "name": "b",
                "livenessProbe": {"httpGet": {"host": "z.example", "port": 1}},
                "lifecycle": {"preStop": {"tcpSocket": {"host": "1.2.3.4", "port": 2}}},
            },
            {"name": "a", "startupProbe": {"tcpSocket": {"host": "z.example", "port": 1}}},
            {"name": "ok", "readinessProbe": {"httpGet": {"host": "", "port": 1}}},
        ]
    }
    assert detail(spec, "hostProbesAndHostLifecycle") == (
        "probe or lifecycle host",
        'containers "a", "b" use probe or lifecycle hosts "1.2.3.4", "z.example"',
    )
    assert evaluate({}, spec, B, v(33)).allowed  # the check starts at v1.34


def test_forbidden_message_matches_api_server_format() -> None:
    spec = {"hostNetwork": True, "hostPID": True, "containers": [ctr("a", privileged=True)]}
    verdict = evaluate({}, spec, B, parse_version("v1.30"))
    assert verdict.forbidden_message() == (
        'violates PodSecurity "baseline:v1.30": host namespaces (hostNetwork=true, hostPID=true), '
        'privileged (container "a" must not set securityContext.privileged=true)'
    )
    assert evaluate({}, spec, Level.PRIVILEGED, parse_version("latest")).allowed


def test_parse_level_and_version_like_upstream() -> None:
    assert parse_level("restricted") is R
    assert str(parse_version("v1.0")) == "v1.0" and parse_version("latest").latest
    assert parse_version("v1.99").effective_minor == 37
    for bad in ("Restricted", " baseline", ""):
        with pytest.raises(PolicyError):
            parse_level(bad)
    for bad in ("1.30", "v1.030", "v2.0", "v1", "Latest", "v1.-1", "v1.2\n"):  # `$` alone would admit "\n"
        with pytest.raises(PolicyError):
            parse_version(bad)


def test_namespace_label_fallbacks() -> None:
    p = policy_from_labels(
        {
            "pod-security.kubernetes.io/enforce": "Baseline",
            "pod-security.kubernetes.io/enforce-version": "1.30",
            "pod-security.kubernetes.io/audit": "nope",
            "pod-security.kubernetes.io/warn": "baseline",
            "pod-security.kubernetes.io/warn-version": "v1.29",
        }
    )
    assert str(p.enforce) == "restricted:latest"  # unparsable enforce level fails closed
    assert str(p.audit) == "privileged:latest"  # unparsable audit level fails open
    assert str(p.warn) == "baseline:v1.29"
    assert len(p.errors) == 3
    assert str(policy_from_labels({}).enforce) == "privileged:latest"


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\té') == '"a\\"b\\\\c\\n\\té"'
    assert go_quote("\x01") == '"\\x01"'


def test_extract_templates_and_errors() -> None:
    cron = {
        "kind": "CronJob",
        "spec": {
            "jobTemplate": {
                "spec": {"template": {"metadata": {"annotations": {"a": "b"}}, "spec": {"containers": []}}}
            }
        },
    }
    tpl = extract(cron)
    assert (
        tpl is not None
        and tpl.path == "spec.jobTemplate.spec.template.spec"
        and tpl.meta == {"annotations": {"a": "b"}}
    )
    assert extract({"kind": "ConfigMap"}) is None
    with pytest.raises(PodSpecError, match=r"has no spec\.template"):
        extract({"kind": "Deployment", "spec": {}})
    with pytest.raises(PodSpecError):
        evaluate({}, {"containers": [{"name": "a", "securityContext": "yes"}]}, R, v(37))


def test_label_change_warnings_group_like_the_api_server() -> None:
    from kubehipaa.engines.pss import LevelVersion, label_change_warnings

    root = {"containers": [ctr("a", privileged=True)]}
    host = {"hostPID": True, "containers": [ctr("a")]}
    lv = LevelVersion(B, parse_version("latest"))
    verdicts = [
        (name, evaluate({}, spec, B, lv.version))
        for name, spec in [
            ("web-2", root),
            ("web-1", root),
            ("agent", host),
            ("ok", {"containers": [ctr("a")]}),
            ("web-3", root),
        ]
    ]
    assert label_change_warnings("clinical", lv, verdicts) == [
        'existing pods in namespace "clinical" violate the new PodSecurity enforce level "baseline:latest"',
        "agent: host namespaces",
        "web-1 (and 2 other pods): privileged",
    ]
    assert label_change_warnings("clinical", lv, verdicts[:2])[1] == "web-1 (and 1 other pod): privileged"
    assert label_change_warnings("clinical", LevelVersion(Level.PRIVILEGED, lv.version), verdicts) == []
    assert label_change_warnings("clinical", lv, verdicts[3:4]) == []


@pytest.mark.parametrize("field", ["add", "drop"])
@pytest.mark.parametrize("level", [Level.BASELINE, Level.RESTRICTED])
def test_capabilities_given_as_a_string_is_malformed_not_read_per_character(field: str, level: Level) -> None:
    # Before: add: "NET_ADMIN" was iterated as "N", "E", "T", ... and reported as those capabilities.
    spec = {"containers": [{"name": "c", "securityContext": {"capabilities": {field: "NET_ADMIN"}}}]}
    if level is Level.BASELINE and field == "drop":
        return  # baseline never reads drop
    with pytest.raises(PodSpecError, match=rf"capabilities\.{field} must be a list"):
        evaluate({}, spec, level, parse_version("latest"))
