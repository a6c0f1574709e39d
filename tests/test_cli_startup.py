"""Start-up cost of the CLI (issue 7: `audit analyze` must sustain 250k events/s end to end, start-up included).

`kubehipaa.cli.main` registers its command groups lazily, so `audit analyze` must not pay for the scanner, the
RBAC/NetworkPolicy engines, the etcd client or pydantic. These tests run the real entry point in a fresh
interpreter (an in-process run would see whatever earlier tests imported) and look at `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app

from .auditlog.helpers import at, raw_event

# Imported by other command groups only; each costs tens of milliseconds at start-up.
HEAVY = (
    "kubernetes",
    "httpx",
    "jsonschema",
    "kubehipaa.checks",
    "kubehipaa.engines.rbac",
    "kubehipaa.engines.netpol",
    "kubehipaa.cli.scan",
    "kubehipaa.cli.rbac",
    "kubehipaa.cli.etcd",
    "kubehipaa.pipelines.etcd",
    "kubehipaa.pipelines.scan",
)

_PROBE = """
import json, sys
from kubehipaa.cli.main import main
sys.argv = ["kubehipaa", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run(argv: list[str], cwd: Path) -> tuple[int, set[str]]:
    """Run `kubehipaa ARGV` via main() in a fresh interpreter; its exit code and the modules it imported."""
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["code"], set(result["modules"])


@pytest.fixture
def log(tmp_path: Path) -> Path:
    events = [
        raw_event("get", "secrets", name="db", user="jane@hospital.org", time=at(1), audit_id="e1"),
        raw_event("list", "pods", user="system:serviceaccount:clinical:app", time=at(2), audit_id="e2"),
    ]
    folder = tmp_path / "logs"
    folder.mkdir()
    p = folder / "audit.log"
    p.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return p


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_audit_analyze_imports_nothing_heavy(log: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    code, modules = _run(["audit", "analyze", str(log), "--format", fmt, "-o", str(out)], tmp_path)
    assert code == 0
    assert out.read_text(encoding="utf-8").strip()
    loaded = sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert loaded == []
    # No .kubehipaa.yaml given or beside the log: the defaults, without kubehipaa.config and its pydantic
    # models. (typer >= 0.2x coerces option values with pydantic itself, typer/_adapters.py; only that may
    # import it.)
    assert "kubehipaa.config" not in modules
    assert "pydantic" not in modules or "typer._adapters" in modules


def test_audit_analyze_still_reads_a_trusted_config_beside_the_log(log: Path, tmp_path: Path) -> None:
    (log.parent / ".kubehipaa.yaml").write_text("breakGlass:\n  users: [jane@hospital.org]\n", encoding="utf-8")
    out = tmp_path / "report.json"
    code, modules = _run(["audit", "analyze", str(log), "--format", "json", "-o", str(out), "--trust-config"],
                         tmp_path)
    assert code == 1  # jane is now a break-glass identity: KH-AUDLOG-018 (high)
    assert "KH-AUDLOG-018" in json.loads(out.read_text(encoding="utf-8"))["detector"]["alertsByRule"]
    assert "kubehipaa.config" in modules
    # A broken config found the same way is still an input error (exit 2), not silently ignored.
    (log.parent / ".kubehipaa.yaml").write_text("breakGlas: {}\n", encoding="utf-8")
    code, _ = _run(["audit", "analyze", str(log), "--format", "json", "-o", str(out), "--trust-config"], tmp_path)
    assert code == 2
    # Not trusted: named as ignored and not read, so neither kubehipaa.config nor pydantic is imported.
    code, modules = _run(["audit", "analyze", str(log), "--format", "json", "-o", str(out)], tmp_path)
    assert code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["warnings"][0]["code"] == "ignored-config"
    assert "kubehipaa.config" not in modules


def test_audit_analyze_reads_the_current_directory_config(log: Path, tmp_path: Path) -> None:
    (tmp_path / ".kubehipaa.yaml").write_text("breakGlass:\n  users: [jane@hospital.org]\n", encoding="utf-8")
    out = tmp_path / "report.json"
    code, modules = _run(["audit", "analyze", str(log), "--format", "json", "-o", str(out)], tmp_path)
    assert code == 1
    assert "kubehipaa.config" in modules


def test_explicit_config_is_loaded(log: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "custom.yaml"
    cfg.write_text("exeptions: []\n", encoding="utf-8")
    code, _ = _run(["audit", "analyze", str(log), "--config", str(cfg), "-o", str(tmp_path / "r.txt")], tmp_path)
    assert code == 2  # the typo is reported, so --config was read


@pytest.mark.parametrize(
    "layout",
    [(), (".kubehipaa.yaml",), (".kubehipaa.yml",), ("sub/.kubehipaa.yaml",), ("kubehipaa.yaml",)],
)
def test_config_discovery_matches_kubehipaa_config(tmp_path: Path, layout: tuple[str, ...]) -> None:
    """The pydantic-free lookup (kubehipaa.config_location) finds a config exactly when kubehipaa.config does."""
    from kubehipaa.config import find_config
    from kubehipaa.config_location import locate_config

    (tmp_path / "sub").mkdir()
    (tmp_path / "audit.log").write_text("", encoding="utf-8")
    for name in layout:
        (tmp_path / name).write_text("{}\n", encoding="utf-8")
    for scan in (["-"], [str(tmp_path)], [str(tmp_path / "audit.log")], ["-", str(tmp_path / "sub")]):
        located = locate_config(None, scan, trust=True, cwd=tmp_path / "sub" / "nowhere")
        assert located.path == find_config(scan), scan


runner = CliRunner()


def test_root_help_lists_every_command_group() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0, res.output
    for name in ("scan", "checks", "pss", "rbac", "netpol", "audit", "audit-policy", "etcd"):
        assert any(line.split()[1:2] == [name] for line in res.output.splitlines() if line.strip()), name


@pytest.mark.parametrize(
    ("group", "commands"),
    [
        ("audit", ("analyze", "timeline", "rules", "serve")),
        ("rbac", ("can-i", "who-can", "review", "escalation", "unused", "suggest")),
    ],
)
def test_group_help_lists_its_commands(group: str, commands: tuple[str, ...]) -> None:
    res = runner.invoke(app, [group, "--help"])
    assert res.exit_code == 0, res.output
    listed = {line.split()[1] for line in res.output.splitlines() if len(line.split()) > 1}
    assert set(commands) <= listed


def test_unknown_command_still_suggests_lazily_registered_ones() -> None:
    res = runner.invoke(app, ["scna"])
    assert res.exit_code == 2
    assert "Did you mean 'scan'?" in res.output
