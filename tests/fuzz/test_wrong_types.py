"""Wrong-typed fields through every manifest command: an answer for the rest, exit 0/1/2, never a crash.

Hypothesis takes valid objects of every kind the engines read (workloads, Services, Ingresses,
NetworkPolicies, Namespaces, ServiceAccounts, Roles and bindings, ConfigMaps, Secrets) and sets one to three
fields, drawn from every path of the kind's published schema, to a value of a JSON type the schema does not
allow there (one mutant in four gets schema-valid values instead), next to the valid originals
(`tests/fuzz/manifests.py`, `tests/fuzz/schema.py`). Each command reads them in-process. It must end with 0,
1 or 2, never with an internal error (exit 3, a traceback), name file:line when it ends with 2
(`tests/fuzz/harness.py`), and still answer for the valid objects (one bad object never hides the good ones:
no refusal of the whole input); the scan must never lose a check to such an object (the object is skipped
and named instead). Examples are derandomized for CI; KUBEHIPAA_FUZZ_EXAMPLES=N runs more.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given

from tests.fuzz.harness import Crash, fuzz_settings, run, write
from tests.fuzz.manifests import (
    BASE,
    NETPOL_KINDS,
    NS,
    PSS_KINDS,
    RBAC_KINDS,
    SCAN_KINDS,
    manifest_set,
    to_yaml,
)


def run_all(commands: tuple[tuple[list[str], str], ...], docs: list[dict[str, Any]]) -> None:
    """Each command over `docs` on stdin: the contract, no refusal of everything, and its answer for the
    valid base objects."""
    text = to_yaml(docs)
    for argv, answer in commands:
        res = run(argv, text, what=text[:20_000])
        if res.refused is not None:
            raise Crash(f"kubehipaa {' '.join(argv)} refused everything ({res.refused}) for:\n{text[:20_000]}")
        assert answer in res.out, (argv, res.out, text[:20_000])


# (command, what its answer for the valid base objects always shows)
NETPOL_COMMANDS = (
    (["netpol", "connlist", "-"], f"{NS}/web[Deployment]"),
    (["netpol", "connlist", "-f", "json", "-"], f"{NS}/web[Deployment]"),
    (["netpol", "exposure", "-n", NS, "-"], f"{NS}/web[Deployment]"),
    (["netpol", "can-reach", f"{NS}/web[Deployment]", f"{NS}/db[StatefulSet]", "-p", "5432", "-"],
     f"{NS}/web[Deployment] => {NS}/db[StatefulSet]"),
)
RBAC_COMMANDS = (
    (["rbac", "who-can", "get", "secrets", "-n", NS, "--name", "db", "-"], "support"),
    (["rbac", "can-i", "get", "secrets", "-n", NS, "--name", "db", "--as", "jane", "--as-group", "support",
      "-"], "yes"),
    (["rbac", "review", "-n", NS, "-f", "json", "-"], "support"),
    (["rbac", "escalation", "-"], "identities"),
    (["rbac", "risks", "-"], "risky grant(s)"),
)
PSS_COMMANDS = (
    (["pss", "evaluate", "-"], "Deployment/fz/web"),
    (["pss", "evaluate", "-f", "json", "--level", "baseline", "-"], "fz"),
    (["pss", "dry-run", "--namespace", NS, "--level", "restricted", "-"], "fz"),
    (["pss", "namespaces", "-"], "fz"),
)


@fuzz_settings(25)
@given(manifest_set(NETPOL_KINDS))
def test_netpol_commands_survive_wrong_types(docs: list[dict[str, Any]]) -> None:
    run_all(NETPOL_COMMANDS, docs)


@fuzz_settings(10)
@given(manifest_set(NETPOL_KINDS))
def test_netpol_diff_survives_wrong_types(docs: list[dict[str, Any]]) -> None:
    """Both sides: the valid objects before, the mutants after, and the other way round."""
    base = write("diff/base.yaml", to_yaml([BASE[k] for k in NETPOL_KINDS]))
    hostile = write("diff/hostile.yaml", to_yaml(docs))
    for before, after in ((base, hostile), (hostile, base)):
        res = run(["netpol", "diff", before, after], what=to_yaml(docs)[:20_000])
        assert res.refused is None, res.refused


@fuzz_settings(20)
@given(manifest_set(RBAC_KINDS))
def test_rbac_commands_survive_wrong_types(docs: list[dict[str, Any]]) -> None:
    run_all(RBAC_COMMANDS, docs)


@fuzz_settings(25)
@given(manifest_set(PSS_KINDS))
def test_pss_commands_survive_wrong_types(docs: list[dict[str, Any]]) -> None:
    run_all(PSS_COMMANDS, docs)


@fuzz_settings(25)
@given(manifest_set(SCAN_KINDS))
def test_scan_survives_wrong_types_and_loses_no_check(docs: list[dict[str, Any]]) -> None:
    """JSON and table reports; no check may fail on a wrong-typed object (a check error is a bug: the
    object must be judged or named as skipped), and what was left out makes the scan exit 2."""
    text = to_yaml(docs)
    res = run(["scan", "-", "-f", "json", "--fail-on", "never"], text, what=text[:20_000])
    report = json.loads(res.out)
    assert not report["errors"], (report["errors"], text[:20_000])
    left_out = [s for s in report["skipped"] if "computed without it" in s["message"]
                or "not evaluated" in s["message"]]
    if left_out:
        assert res.code == 2  # a scan never looks cleaner than it was
    elif not report["skipped"]:
        assert res.code == 0
    table = run(["scan", "-", "--fail-on", "critical"], text, what=text[:20_000])
    assert (table.code == 2) == (res.code == 2), (table.err, res.err)  # same input problems either way
