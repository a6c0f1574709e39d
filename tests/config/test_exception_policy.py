"""Exceptions cannot silence everything by accident (issue 11, requirement 10).

An exception naming an unknown check, a pattern over several checks with no resource (unless it says
`scope: all-resources`, and then it is a warning on every run), or an expiry beyond
`exceptionPolicy.max_expiry_days` is a one-line config error naming the file and line. An exception may
name a container, matched by name through the finding's evidence path.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.checks.registry import REGISTRY, all_checks
from kubehipaa.cli.main import app
from kubehipaa.config import load_config, parse_config
from kubehipaa.errors import ConfigError
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan

all_checks()
TODAY = dt.date(2026, 6, 1)
SOON = "2026-12-31"

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ehr", "namespace": "clinical"},
    "spec": {"template": {"spec": {
        "hostPID": True,
        "initContainers": [{"name": "migrate", "image": "r/m:1", "securityContext": {"privileged": True}}],
        "containers": [
            {"name": "api", "image": "r/api:1", "securityContext": {"privileged": True}},
            {"name": "log-agent", "image": "r/log:1", "securityContext": {"privileged": True}},
        ],
    }}},
}
CRONJOB = {
    "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "export", "namespace": "clinical"},
    "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "log-agent", "image": "r/log:1", "securityContext": {"privileged": True}}],
    }}}}},
}


def _config_file(tmp_path: Path, exceptions: str, extra: str = "") -> Path:
    path = tmp_path / ".kubehipaa.yaml"
    path.write_text(extra + "exceptions:\n" + exceptions)
    return path


def _scan_with(path: Path, *docs: dict, checks: tuple[str, ...] = ("KH-WL-001", "KH-WL-002")):
    cfg = load_config(str(path))
    objs = [K8sObject(d, "m.yaml", i + 1) for i, d in enumerate(docs or (DEPLOYMENT,))]
    return run_scan(Inventory(objs, cfg), cfg, checks=[REGISTRY[c] for c in checks], today=TODAY)


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        _scan_with(path)
    message = str(err.value)
    assert "\n" not in message, message
    return message


RULE = "    justification: accepted\n    owner: team\n    expires: {expires}\n"


@pytest.mark.parametrize(
    ("check", "line", "fragment"),
    [
        ("KH-WLL-003", 2, "exceptions.0.check: unknown check id 'KH-WLL-003' (did you mean KH-WL-003?)"),
        ("kh-wl-001", 2, "unknown check id 'kh-wl-001' (did you mean KH-WL-001?)"),
        ("KH-WLL-*", 2, "check pattern 'KH-WLL-*' matches no known check (did you mean KH-WL-*?)"),
        ("KH-NOPE-999", 2, "unknown check id 'KH-NOPE-999'"),
        ("totally-unrelated", 2, "see `kubehipaa checks list`"),
    ],
)
def test_unknown_check_ids_are_config_errors_with_a_suggestion(
    tmp_path: Path, check: str, line: int, fragment: str
) -> None:
    path = _config_file(tmp_path, f"  - check: {check}\n    resource: {{name: ehr}}\n" + RULE.format(expires=SOON))
    message = _error(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_the_error_names_the_line_of_the_offending_exception(tmp_path: Path) -> None:
    good = "  - check: KH-WL-001\n    resource: {name: ehr}\n" + RULE.format(expires=SOON)
    path = _config_file(tmp_path, good + "  - check: KH-WL-0001\n" + RULE.format(expires=SOON))
    assert _error(path).startswith(f"{path}:7: exceptions.1.check: unknown check id 'KH-WL-0001'")


@pytest.mark.parametrize("check", ["'*'", "KH-*", "KH-WL-*", "KH-*-001", "KH-WL-00?"])
@pytest.mark.parametrize("resource", ["", "    resource: {}\n", "    resource: {name: '*', namespace: '**'}\n"])
def test_a_pattern_over_several_checks_on_every_resource_needs_scope(
    tmp_path: Path, check: str, resource: str
) -> None:
    path = _config_file(tmp_path, f"  - check: {check}\n{resource}" + RULE.format(expires=SOON))
    message = _error(path)
    assert message.startswith(f"{path}:2: exceptions.0: check "), message
    assert "would suppress every finding" in message and "scope: all-resources" in message


def test_scope_all_resources_suppresses_and_warns_on_every_run(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "  - check: '*'\n    scope: all-resources\n" + RULE.format(expires=SOON))
    result = _scan_with(path)
    assert result.findings and all(f.suppressed for f in result.findings)
    broad = [w for w in result.warnings if w.code == "broad-exception"]
    assert len(broad) == 1 and broad[0].exception is not None and broad[0].exception.check == "*"
    assert "suppresses every finding" in broad[0].message and "owner team" in broad[0].message
    # expired, it suppresses nothing: the expired-exception report replaces the warning
    path = _config_file(tmp_path, "  - check: '*'\n    scope: all-resources\n" + RULE.format(expires="2026-01-01"))
    result = _scan_with(path)
    assert not [w for w in result.warnings if w.code == "broad-exception"]
    assert [r.check for r in result.expired_exceptions] == ["*"]


@pytest.mark.parametrize("resource", ["{name: '?*'}", "{namespace: '*?'}", "{kind: '[!.]*', name: '*'}",
                                      "{name: '*?*'}", "{container: '?*'}"])
def test_a_resource_pattern_that_matches_any_name_is_no_resource(tmp_path: Path, resource: str) -> None:
    """`?*` matches every name an object can have, so it restricts nothing: as for an omitted resource, a
    pattern over several checks needs `scope: all-resources` (and then warns on every run)."""
    path = _config_file(tmp_path, f"  - check: '*'\n    resource: {resource}\n" + RULE.format(expires=SOON))
    message = _error(path)
    assert "would suppress every finding" in message and "scope: all-resources" in message
    path = _config_file(tmp_path, f"  - check: '*'\n    resource: {resource}\n    scope: all-resources\n"
                        + RULE.format(expires=SOON))
    assert [w.code for w in _scan_with(path).warnings if w.code == "broad-exception"] == ["broad-exception"]


@pytest.mark.parametrize(
    "rule",
    [
        "  - check: KH-WL-001\n",                                # one check, every resource: as before
        "  - check: KH-WL-00[1]\n",                              # a glob that matches one check
        "  - check: KH-WL-*\n    resource: {namespace: clinical}\n",  # several checks, one namespace
        "  - check: KH-WL-*\n    resource: {container: api}\n",
    ],
)
def test_narrow_exceptions_need_no_scope_and_do_not_warn(tmp_path: Path, rule: str) -> None:
    result = _scan_with(_config_file(tmp_path, rule + RULE.format(expires=SOON)))
    assert result.suppressed
    assert not [w for w in result.warnings if w.code == "broad-exception"]


def test_scope_all_resources_beside_a_resource_is_a_contradiction(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "  - check: KH-WL-*\n    resource: {name: ehr}\n    scope: all-resources\n"
                        + RULE.format(expires=SOON))
    assert _error(path).startswith(f"{path}:4: exceptions.0.scope: 'all-resources' contradicts")


def test_scope_takes_one_value(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "  - check: '*'\n    scope: everything\n" + RULE.format(expires=SOON))
    with pytest.raises(ConfigError, match=r":3: exceptions.0.scope: Input should be 'all-resources'"):
        load_config(str(path))


def test_expiry_more_than_365_days_out_is_rejected_by_default(tmp_path: Path) -> None:
    limit = TODAY + dt.timedelta(days=365)
    ok = _config_file(tmp_path, "  - check: KH-WL-001\n" + RULE.format(expires=limit))
    assert _scan_with(ok).suppressed
    late = limit + dt.timedelta(days=1)
    path = _config_file(tmp_path, "  - check: KH-WL-001\n    resource: {name: ehr}\n" + RULE.format(expires=late))
    message = _error(path)
    assert message.startswith(f"{path}:6: exceptions.0.expires: the exception for KH-WL-001 (owner team) "
                              f"expires on {late}, more than 365 days after today ({TODAY})"), message
    assert f"on or before {limit}" in message and "exceptionPolicy.max_expiry_days" in message


@pytest.mark.parametrize("key", ["exceptionPolicy", "exception_policy"])
def test_max_expiry_days_is_configurable(tmp_path: Path, key: str) -> None:
    policy = f"{key}:\n  max_expiry_days: 30\n"
    path = _config_file(tmp_path, "  - check: KH-WL-001\n" + RULE.format(expires=TODAY + dt.timedelta(days=31)),
                        policy)
    assert load_config(str(path)).exception_policy.max_expiry_days == 30
    assert "more than 30 days after today" in _error(path)
    path = _config_file(tmp_path, "  - check: KH-WL-001\n" + RULE.format(expires="2099-01-01"),
                        f"{key}:\n  max_expiry_days: 40000\n")
    assert _scan_with(path).suppressed


@pytest.mark.parametrize("bad", ["0", "-5", "soon"])
def test_max_expiry_days_must_be_a_positive_number(tmp_path: Path, bad: str) -> None:
    path = _config_file(tmp_path, "", f"exceptionPolicy:\n  max_expiry_days: {bad}\n")
    path.write_text(f"exceptionPolicy:\n  max_expiry_days: {bad}\n")
    with pytest.raises(ConfigError, match=r":2: exceptionPolicy.max_expiry_days: "):
        load_config(str(path))


def test_validation_without_a_file_names_the_source() -> None:
    cfg = parse_config({"exceptions": [{"check": "KH-WLL-003", "justification": "j", "owner": "o",
                                        "expires": SOON}]}, "inline")
    with pytest.raises(ConfigError, match=r"^inline: exceptions.0.check: unknown check id"):
        run_scan(Inventory([], cfg), cfg, today=TODAY)


def test_selected_checks_do_not_make_other_exceptions_unknown(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "  - check: KH-RBAC-001\n" + RULE.format(expires=SOON))
    result = _scan_with(path, checks=("KH-WL-001",))
    assert [r.check for r in result.unused_exceptions] == ["KH-RBAC-001"]


# --- exceptions that name a container -------------------------------------------------------------------


def _suppressed(result) -> set[tuple[str, str, str]]:
    return {(f.check_id, f.resource.name, f.evidence[0].path) for f in result.findings if f.suppressed}


def test_a_container_exception_waives_only_that_containers_findings(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "  - check: KH-WL-*\n    resource: {kind: Deployment, container: log-agent}\n"
                        + RULE.format(expires=SOON))
    result = _scan_with(path)
    assert _suppressed(result) == {
        ("KH-WL-001", "ehr", "spec.template.spec.containers[1].securityContext.privileged"),
    }
    active = {(f.check_id, f.evidence[0].path) for f in result.active}
    assert ("KH-WL-001", "spec.template.spec.containers[0].securityContext.privileged") in active
    assert ("KH-WL-001", "spec.template.spec.initContainers[0].securityContext.privileged") in active
    assert ("KH-WL-002", "spec.template.spec.hostPID") in active  # pod-level: names no container


def test_container_names_are_globs_and_cover_init_containers_and_cronjobs(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "  - check: KH-WL-001\n    resource: {container: '[ml]*'}\n"
                        + RULE.format(expires=SOON))
    result = _scan_with(path, DEPLOYMENT, CRONJOB)
    assert _suppressed(result) == {
        ("KH-WL-001", "ehr", "spec.template.spec.initContainers[0].securityContext.privileged"),
        ("KH-WL-001", "ehr", "spec.template.spec.containers[1].securityContext.privileged"),
        ("KH-WL-001", "export", "spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged"),
    }


def test_a_container_exception_that_matches_nothing_is_unused(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "  - check: KH-WL-001\n    resource: {container: nginx}\n"
                        + RULE.format(expires=SOON))
    result = _scan_with(path)
    assert not result.suppressed and [r.resource.container for r in result.unused_exceptions] == ["nginx"]


# --- through the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "deploy.yaml").write_text(json.dumps(DEPLOYMENT))
    return tmp_path / "app"


def _expires(days: int = 30) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def test_cli_wildcard_without_scope_exits_2_with_one_line(app_dir: Path) -> None:
    (app_dir / ".kubehipaa.yaml").write_text("exceptions:\n  - check: '*'\n" + RULE.format(expires=_expires()))
    res = CliRunner().invoke(app, ["scan", str(app_dir), "--trust-config"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {app_dir}/.kubehipaa.yaml:2: exceptions.0: check '*'")


def test_cli_unknown_check_exits_2(app_dir: Path) -> None:
    (app_dir / ".kubehipaa.yaml").write_text("exceptions:\n  - check: KH-WLL-003\n" + RULE.format(expires=_expires()))
    res = CliRunner().invoke(app, ["scan", str(app_dir), "--trust-config", "-f", "json"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "did you mean KH-WL-003?" in res.stderr


def test_cli_broad_exception_is_a_warning_and_in_json(app_dir: Path) -> None:
    (app_dir / ".kubehipaa.yaml").write_text(
        "exceptions:\n  - check: '*'\n    scope: all-resources\n" + RULE.format(expires=_expires())
    )
    res = CliRunner().invoke(app, ["scan", str(app_dir), "--trust-config", "-f", "json"])
    assert res.exit_code == 0, res.output  # everything is suppressed ...
    warning = [line for line in res.stderr.splitlines() if "suppresses every finding" in line]
    assert len(warning) == 1 and warning[0].startswith("warning: exception for * (owner team")  # ... said aloud
    doc = json.loads(res.stdout)
    broad = [w for w in doc["warnings"] if w["code"] == "broad-exception"]
    assert len(broad) == 1 and broad[0]["exception"]["scope"] == "all-resources"
