"""Wrong-typed fields through every manifest command: an answer for the rest, exit 0/1/2, never a crash.

Hypothesis takes valid NetworkPolicy / Service / Pod / workload / Role / binding documents and sets one to
three of the fields the engines read to a value of another type (`tests/fuzz/manifests.py`), next to the
valid originals. Each command reads them from stdin in-process. It must end with 0, 1 or 2, never with an
internal error (exit 3, a traceback), and must still answer for the valid objects (one bad object never
hides the good ones: no refusal of the whole input); the scan must never lose a NetworkPolicy, RBAC or Pod
Security check to such an object (the object is skipped and named instead). Examples are derandomized for
CI; KUBEHIPAA_FUZZ_EXAMPLES=N runs more.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import KubehipaaError
from tests.fuzz.manifests import EXAMPLES, NETPOL_KINDS, NS, PSS_KINDS, RBAC_KINDS, manifest_set, to_yaml

runner = CliRunner()


def fuzz_settings(examples: int) -> Any:
    return settings(max_examples=EXAMPLES or examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run(argv: list[str], stdin: str) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of `kubehipaa ARGV` over `stdin`. A crash (any exception but the
    exit) is re-raised with its traceback; a KubehipaaError (which main() prints as one error line, exit 2)
    means the whole input was refused although it holds valid objects, and fails too."""
    res = runner.invoke(app, argv, input=stdin)
    exc = res.exception
    if isinstance(exc, KubehipaaError):
        raise AssertionError(f"kubehipaa {' '.join(argv)} refused everything ({exc}) for:\n{stdin}") from exc
    if exc is not None and not isinstance(exc, SystemExit):
        raise AssertionError(f"kubehipaa {' '.join(argv)} crashed on:\n{stdin}") from exc
    assert res.exit_code in (0, 1, 2), (argv, res.exit_code, res.output)
    assert "Traceback" not in res.output
    return res.exit_code, res.stdout, res.stderr


# (command, what its answer for the valid base objects always shows)
NETPOL_COMMANDS = (
    (["netpol", "connlist", "-"], f"{NS}/web[Deployment]"),
    (["netpol", "exposure", "-n", NS, "-"], f"{NS}/web[Deployment]"),
    (["netpol", "can-reach", f"{NS}/web[Deployment]", f"{NS}/db[StatefulSet]", "-p", "5432", "-"],
     f"{NS}/web[Deployment] => {NS}/db[StatefulSet]"),
)
RBAC_COMMANDS = (
    (["rbac", "who-can", "get", "secrets", "-n", NS, "--name", "db", "-"], "support"),
    (["rbac", "escalation", "-"], "identities"),
    (["rbac", "risks", "-"], "risky grant(s)"),
)
PSS_COMMANDS = (
    (["pss", "evaluate", "-"], "Deployment/fz/web"),
    (["pss", "dry-run", "--namespace", NS, "--level", "restricted", "-"], "fz"),
)


def run_all(commands: tuple[tuple[list[str], str], ...], docs: list[dict[str, Any]]) -> None:
    text = to_yaml(docs)
    for argv, answer in commands:
        _, out, _ = run(argv, text)
        assert answer in out, (argv, out)


@fuzz_settings(30)
@given(manifest_set(NETPOL_KINDS))
def test_netpol_commands_survive_wrong_types(docs: list[dict[str, Any]]) -> None:
    run_all(NETPOL_COMMANDS, docs)


@fuzz_settings(20)
@given(manifest_set(RBAC_KINDS))
def test_rbac_commands_survive_wrong_types(docs: list[dict[str, Any]]) -> None:
    run_all(RBAC_COMMANDS, docs)


@fuzz_settings(30)
@given(manifest_set(PSS_KINDS))
def test_pss_commands_survive_wrong_types(docs: list[dict[str, Any]]) -> None:
    run_all(PSS_COMMANDS, docs)


ENGINE_CHECKS = ("KH-NET-", "KH-RBAC-", "KH-PSS-")


@fuzz_settings(20)
@given(manifest_set(tuple(dict.fromkeys((*NETPOL_KINDS, *RBAC_KINDS)))))
def test_scan_survives_wrong_types_and_keeps_its_engine_checks(docs: list[dict[str, Any]]) -> None:
    code, out, _ = run(["scan", "-", "-f", "json", "--fail-on", "never"], to_yaml(docs))
    report = json.loads(out)
    lost = [e for e in report["errors"] if e["checkId"].startswith(ENGINE_CHECKS)]
    assert not lost, lost  # an engine must skip the object, not lose a whole check
    left_out = [s for s in report["skipped"] if "computed without it" in s["message"]
                or "not evaluated" in s["message"]]
    if left_out or report["errors"]:
        assert code == 2  # a scan never looks cleaner than it was
    elif not report["skipped"]:
        assert code == 0
