"""Conformance against np-guard/netpol-analyzer's golden connlist and diff outputs (../shared/conformance/netpol).

Every good-path case is compared as an exact set of `src => dst : conns` lines. No case is skipped:
`NOT_MATCHED` would list any case we cannot match yet, with the reason (it is empty).

Bad-path cases: netpol-analyzer stops at the first invalid policy with a fatal error and lists nothing.
kubehipaa produces the same error wording, per policy, as one problem naming file:line and the policy,
leaves that policy out, analyses the rest and exits 2: a failure for any caller, as upstream's, but one bad
policy no longer hides every other answer (issue 11, req. 5). The named port towards IP peers, which the API
server accepts, is the one problem whose policy is kept, read as the API server reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.cli.netpol import load_netpol_objects
from kubehipaa.engines.netpol import Connection, Connlist, Engine, build_topology, diff
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.netpol import CONNLIST, DIFF
from tests.conftest import CONFORMANCE

NETPOL = CONFORMANCE / "netpol"
TESTS = NETPOL / "tests"
GOLDEN = NETPOL / "test_outputs" / "connlist"

# case -> reason; cases listed here are expected to differ (reported as xfail with the reason) instead of being skipped
NOT_MATCHED: dict[str, str] = {}

# bad-path case dir -> substrings the error must contain
BAD_PATH = {
    "bad_netpols/subdir1": ["CIDR error", "invalid CIDR address"],
    "bad_netpols/subdir2": ["selector error", "key: Invalid value"],
    "bad_netpols/subdir3": [
        "rule NetworkPolicyPeer error",
        "cannot have both IPBlock and PodSelector/NamespaceSelector set",
    ],
    "bad_netpols/subdir4": ["rule NetworkPolicyPeer error", "cannot have empty rule peer"],
    "bad_netpols/subdir6": ["named port error", "cannot convert named port for an IP destination"],
    "bad_netpols/subdir7": ["selector error", "frontend-netpol"],
    "np_bad_path_test_2": [
        "endPort field cannot be defined if the port field is defined as a named (string) port"
    ],
    "np_test_with_empty_port_range": [
        "port range 10-1 is illegal",
        "start and end values of the port range should be in {1-65535} and end may not be less than start",
    ],
}


# netpol-analyzer refuses a NetworkPolicy name defined twice; kubehipaa reports it and analyses the last
# definition, as `kubectl apply` leaves it (issue 11: one duplicate disabled four network checks).
DUPLICATE_CASES = ("np_bad_path_test_1",)


def _good_cases() -> list[str]:
    if not TESTS.exists():
        return ["<conformance data absent>"]
    return sorted(p.name for p in TESTS.iterdir() if (GOLDEN / f"{p.name}_connlist_output.txt").exists())


def _engine(path: Path) -> Engine:
    return Engine(build_topology(load_netpol_objects([str(path)], quiet=True)))


def _txt(rows: list[Connection]) -> str:
    return CONNLIST.render(Connlist(rows, []), "txt", RenderOptions(width=80))


def _render(engine: Engine, fmt: str) -> str:
    return CONNLIST.render(engine.connlist(), fmt, RenderOptions(width=80))


def _lines(text: str) -> set[str]:
    return {line.rstrip("\r") for line in text.splitlines() if line.strip()}


@pytest.fixture
def netpol_data(shared_dir):  # type: ignore[no-untyped-def]
    return shared_dir("conformance/netpol")


def test_every_case_is_covered(netpol_data: Path) -> None:
    """Each case directory is either a good-path case with a golden file or a known bad-path case."""
    good = set(_good_cases())
    assert len(good) == 44
    dirs = {p.name for p in TESTS.iterdir()}
    bad_tops = {k.split("/")[0] for k in BAD_PATH}
    assert dirs == good | bad_tops | set(DUPLICATE_CASES)


@pytest.mark.parametrize("case", _good_cases())
def test_connlist_matches_golden(case: str, netpol_data: Path) -> None:
    if case in NOT_MATCHED:
        pytest.xfail(NOT_MATCHED[case])
    engine = _engine(TESTS / case)
    got = _txt(engine.connections())
    expected = (GOLDEN / f"{case}_connlist_output.txt").read_text(encoding="utf-8")
    assert _lines(got) == _lines(expected)  # the connection sets are equal
    # and the order is netpol-analyzer's too, line for line
    assert got.splitlines() == [line.rstrip("\r") for line in expected.splitlines() if line.strip()]


# netpol-analyzer refuses it; the API server accepts it (the named port then matches no external address)
KEPT_AS_THE_API_SERVER_READS = ("bad_netpols/subdir6",)


@pytest.mark.parametrize("case", sorted(BAD_PATH))
def test_bad_path_policy_is_reported_with_upstream_wording_and_the_rest_analysed(case: str, netpol_data: Path
                                                                                  ) -> None:
    objects = load_netpol_objects([str(TESTS / case)], quiet=True)
    topo = build_topology(objects)
    [problem] = topo.problems
    message = str(problem)
    assert "\n" not in message
    for needle in BAD_PATH[case]:
        assert needle in message
    assert problem.what.startswith("NetworkPolicy ") and problem.what in message
    assert problem.obj is not None and message.startswith(f"{problem.obj.file}:{problem.obj.line}: ")
    got = _txt(Engine(topo).connections())
    if case in KEPT_AS_THE_API_SERVER_READS:
        assert problem.obj in [p.obj for p in topo.policies]
        assert got == _txt(Engine(build_topology(objects, strict=False)).connections())
        return
    assert problem.obj not in [p.obj for p in topo.policies]
    assert "computed without it" in message
    # exactly what the input without that policy gives, and that policy was not the only one in play
    rest = [o for o in objects if o is not problem.obj]
    assert got == _txt(Engine(build_topology(rest)).connections())
    assert topo.workloads


@pytest.mark.parametrize("case", sorted(BAD_PATH))
def test_bad_path_cli_prints_the_rest_and_exits_2(case: str, netpol_data: Path) -> None:
    res = CliRunner().invoke(app, ["netpol", "connlist", str(TESTS / case), "-q"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    [bad] = [w for w in warnings if BAD_PATH[case][0] in w]
    assert all(needle in bad for needle in BAD_PATH[case]) and ".yaml:" in bad
    assert res.stderr.splitlines()[-1].startswith("error: 1 input problem(s)")
    objects = load_netpol_objects([str(TESTS / case)], quiet=True)
    expected = _txt(Engine(build_topology(objects)).connections())
    assert res.stdout.strip() == expected.strip()  # the answers for the rest are printed


def test_duplicate_policy_name_is_reported_and_the_last_definition_analysed(netpol_data: Path) -> None:
    from kubehipaa.cli.netpol import load_netpol

    folder = TESTS / "np_bad_path_test_1"
    loaded = load_netpol([str(folder)], quiet=True)
    [dup] = [p for p in loaded.problems if "backend-netpol" in p.message]
    netpols = str(folder / "netpols.yaml")
    assert (dup.file, dup.line) == (netpols, 1) and f"defined again at {netpols}:24" in dup.message
    assert not dup.lost  # a warning: the run still answers
    engine = Engine(build_topology(loaded.objects))
    [policy] = [p for p in engine.policies if p.name == "backend-netpol"]
    assert policy.obj.line == 24  # the later definition (it selects app=frontend)


def test_named_port_on_pod_peer_is_legal(netpol_data: Path) -> None:
    """subdir5: a named port that no pod defines allows nothing but is not an error (upstream agrees)."""
    rows = _engine(TESTS / "bad_netpols" / "subdir5").connections()
    assert not [
        r
        for r in rows
        if str(r.dst).startswith("default/shippingservice")
        and "50051" not in r.conn_str
        and not str(r.src).endswith("[External]")
        and r.conn_str != "All Connections"
    ]


@pytest.mark.parametrize(
    ("case", "fmt"),
    [
        ("netpol-analysis-example-minimal", "json"),
        ("acs-security-demos", "json"),
        ("acs_security_frontend_demos", "json"),
        ("onlineboutique", "json"),
    ],
)
def test_json_output_matches_golden(case: str, fmt: str, netpol_data: Path) -> None:
    got = json.loads(_render(_engine(TESTS / case), fmt))
    expected = json.loads((GOLDEN / f"{case}_connlist_output.{fmt}").read_text(encoding="utf-8"))
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, expected))


@pytest.mark.parametrize(
    ("case", "fmt"),
    [
        ("netpol-analysis-example-minimal", "csv"),
        ("netpol-analysis-example-minimal", "md"),
        ("acs-security-demos", "csv"),
        ("acs-security-demos", "md"),
        ("onlineboutique", "md"),
        ("onlineboutique_workloads", "csv"),
        ("acs_security_frontend_demos", "csv"),
        ("acs_security_frontend_demos", "md"),
    ],
)
def test_table_output_matches_golden(case: str, fmt: str, netpol_data: Path) -> None:
    got = _render(_engine(TESTS / case), fmt).splitlines()
    expected = (GOLDEN / f"{case}_connlist_output.{fmt}").read_text(encoding="utf-8").splitlines()
    assert got[:2] == expected[:2]  # header (and md separator) identical
    assert sorted(got) == sorted(line.rstrip("\r") for line in expected if line.strip())


def _golden_files() -> list[str]:
    if not GOLDEN.exists():
        return ["<conformance data absent>"]
    return sorted(p.name for p in GOLDEN.iterdir()
                  if "_connlist_output." in p.name and p.suffix in (".txt", ".json", ".csv", ".md"))


@pytest.mark.parametrize("golden", _golden_files())
def test_upstream_formats_match_golden_byte_for_byte(golden: str, netpol_data: Path) -> None:
    """reports/netpol.py writes netpol-analyzer's txt, csv, md and json byte for byte (json: upstream's file
    lacks the final newline every report ends with). dot differs only in edge weights, compared above."""
    case, _, fmt = golden.partition("_connlist_output.")
    got = _render(_engine(TESTS / case), fmt)
    expected = (GOLDEN / golden).read_text(encoding="utf-8")
    assert got == (expected + "\n" if fmt == "json" else expected)


@pytest.mark.parametrize(
    "case", ["netpol-analysis-example-minimal", "acs-security-demos", "onlineboutique_workloads"]
)
def test_dot_output_has_golden_nodes_and_edges(case: str, netpol_data: Path) -> None:
    """Same clusters, nodes and labelled edges as upstream (edge weights are cosmetic and not compared)."""
    engine = _engine(TESTS / case)
    got = _render(engine, "dot")
    expected = (GOLDEN / f"{case}_connlist_output.dot").read_text(encoding="utf-8")

    def shape(text: str) -> set[str]:
        out = set()
        for line in text.splitlines():
            line = line.strip()
            if "->" in line:
                line = line.split(" weight=")[0]
            elif "[label=" in line:
                line = line.split(" color=")[0]
            out.add(line)
        return out

    assert shape(got) == shape(expected)


# diff golden -> reason it is not matched yet (reported as xfail with the reason)
DIFF_NOT_MATCHED: dict[str, str] = {}


def _diff_cases() -> list[str]:
    ddir = NETPOL / "test_outputs" / "diff"
    if not ddir.exists():
        return ["<conformance data absent>"]
    return sorted(p.name for p in ddir.iterdir())


@pytest.mark.parametrize("golden", _diff_cases())
def test_diff_matches_golden(golden: str, netpol_data: Path) -> None:
    if golden in DIFF_NOT_MATCHED:
        pytest.xfail(DIFF_NOT_MATCHED[golden])
    stem = golden.removeprefix("diff_between_").removesuffix(".txt")
    names = sorted((p.name for p in TESTS.iterdir()), key=len, reverse=True)
    dir2 = next(n for n in names if stem.startswith(n + "_and_"))
    dir1 = stem[len(dir2) + len("_and_") :]
    e1, e2 = _engine(TESTS / dir1), _engine(TESTS / dir2)
    c1, c2 = e1.connlist(), e2.connlist()
    rows = diff(c1.connections, c1.peers, c2.connections, c2.peers)
    expected = (NETPOL / "test_outputs" / "diff" / golden).read_text(encoding="utf-8")
    assert DIFF.render(rows, "txt", RenderOptions(width=80)).splitlines() == [
        line.rstrip("\r") for line in expected.splitlines() if line.strip()
    ]
