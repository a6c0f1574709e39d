"""`.kubehipaa.yaml`: validated, unknown keys are errors with file and line, found beside the scanned files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kubehipaa.config import Config, find_config, load_config, parse_config
from kubehipaa.errors import ConfigError

FULL = """\
phi:
  namespaces: [clinical, lab]
  selector: {hipaa.example.org/phi: "yes"}
exceptions:
  - check: KH-WL-001
    resource: {kind: Deployment, namespace: clinical, name: legacy-*}
    justification: vendor appliance needs it until the Q3 upgrade
    owner: platform-team
    expires: 2026-09-30
egress:
  allowed_cidrs: [10.20.0.0/16]
network:
  allowed_ingress:
    - {to_namespace: clinical, from_namespace: ingress-nginx}
audit:
  retention_days: 2555
breakGlass:
  groups: [oncall]
  users: [alice@example.org]
"""


def _write(tmp_path: Path, text: str, name: str = ".kubehipaa.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    cfg = load_config(None, [str(tmp_path)])
    assert cfg == Config()
    assert cfg.phi.selector == {"kubehipaa.io/phi": "true"}
    assert cfg.audit.retention_days == 2190
    assert cfg.source is None


def test_full_config(tmp_path: Path) -> None:
    path = _write(tmp_path, FULL)
    cfg = load_config(str(path))
    assert cfg.phi.namespaces == ["clinical", "lab"]
    assert cfg.phi.selector == {"hipaa.example.org/phi": "yes"}
    rule = cfg.exceptions[0]
    assert (rule.check, rule.resource.name, rule.owner, rule.expires) == (
        "KH-WL-001", "legacy-*", "platform-team", dt.date(2026, 9, 30)
    )
    assert cfg.egress.allowed_cidrs == ["10.20.0.0/16"]
    assert cfg.network.allowed_ingress[0].from_namespace == "ingress-nginx"
    assert cfg.audit.retention_days == 2555
    assert cfg.break_glass.groups == ["oncall"]
    assert cfg.source == str(path)


def test_found_in_the_scanned_directory_or_beside_a_scanned_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "phi: {namespaces: [x]}\n")
    manifest = tmp_path / "app.yaml"
    manifest.write_text("")
    assert find_config([str(tmp_path)]) == path
    assert find_config(["-", str(manifest)]) == path
    # found, but used only when trusted (or when it is the current directory's): it came with the input
    assert load_config(None, [str(tmp_path)], trust=True).phi.namespaces == ["x"]
    assert load_config(None, [str(tmp_path)]).phi.namespaces == []
    assert find_config(["-"]) is None


def test_explicit_config_wins(tmp_path: Path) -> None:
    _write(tmp_path, "phi: {namespaces: [found]}\n")
    other = _write(tmp_path, "phi: {namespaces: [given]}\n", "other.yaml")
    assert load_config(str(other), [str(tmp_path)]).phi.namespaces == ["given"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("exeptions: []\n", ":1: exeptions: unknown key"),
        ("phi:\n  namespaces: [a]\n  selectr: {a: b}\n", ":3: phi.selectr: unknown key"),
        (
            "exceptions:\n  - check: KH-WL-001\n    owner: me\n    expires: 2026-01-01\n",
            ":2: exceptions.0.justification: Field required",
        ),
        (
            "exceptions:\n  - check: KH-WL-001\n    owner: me\n    justification: j\n    expires: soon\n",
            ":5: exceptions.0.expires: Input should be a valid date",
        ),
        (
            "exceptions:\n  - check: X\n    owner: me\n    justification: j\n    expires: 2026-13-01\n",
            ":5: exceptions.0.expires: Input should be a valid date",
        ),
        (
            "exceptions:\n  - check: X\n    owner: ''\n    justification: j\n    expires: 2026-01-01\n",
            ":3: exceptions.0.owner: String should have at least 1 character",
        ),
        ("audit:\n  retention_days: 0\n", ":2: audit.retention_days: Input should be greater than or equal to 1"),
        ("phi: [a, b]\n", ":1: phi: Input should be a valid dictionary"),
        ("phi: {namespaces: [a\n", ":2: malformed YAML"),
        ("- just a list\n", ": config must be a mapping"),
    ],
)
def test_invalid_configs_are_one_line_errors_with_line(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(str(tmp_path / "nope.yaml"))


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(str(_write(tmp_path, "# nothing yet\n"))).exceptions == []


def test_parse_config_counts_further_errors() -> None:
    with pytest.raises(ConfigError, match=r"\(and 1 more\)"):
        parse_config({"typo1": 1, "typo2": 2}, "cfg")


def test_config_yaml_is_read_as_manifests_are(tmp_path: Path) -> None:
    """The config is read by the tool's one YAML loader (Kubernetes' rules): `=` is text (PyYAML refused
    the file), a timestamp names its day, and a bad explicit tag is one line naming where."""
    path = _write(
        tmp_path,
        "exceptions:\n  - check: KH-WL-001\n    owner: =\n    justification: '='\n"
        "    expires: 2026-12-31T10:00:00Z\n",
    )
    (rule,) = load_config(str(path)).exceptions
    assert rule.owner == "=" and str(rule.expires) == "2026-12-31"
    bad = _write(tmp_path, "audit:\n  retention_days: !!int many\n", "bad.yaml")
    with pytest.raises(ConfigError) as err:
        load_config(str(bad))
    assert str(err.value).startswith(f"{bad}:2: ") and "many" not in str(err.value)
