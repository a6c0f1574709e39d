"""Concurrent `scan --save` from several processes is safe on SQLite (WAL, busy timeout, BEGIN IMMEDIATE) and
PostgreSQL (advisory lock): every scan is saved once, with all its findings, and nothing fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kubehipaa.history import HistoryStore, normalise
from kubehipaa.history.location import HistoryLocation
from tests.history.helpers import NAMESPACE, deployment, write

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 6
SAVES_EACH = 2

# Each process saves SAVES_EACH scans through the real CLI; the first save of a fresh database also races
# on creating the schema.
SCRIPT = """
import sys
from kubehipaa.cli.main import main
src, url = sys.argv[1], sys.argv[2]
for _ in range({n}):
    sys.argv = ["kubehipaa", "scan", src, "--save", "--history-url", url, "--fail-on", "never",
                "-f", "json", "-o", "/dev/null"]
    try:
        main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
"""


def test_concurrent_saves_from_several_processes(history_url: str, tmp_path: Path) -> None:
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, **{f"d{i}.yaml": deployment(f"app{i}") for i in range(20)}})
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT.format(n=SAVES_EACH), str(src), history_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
             for _ in range(PROCESSES)]
    results = [(p.wait(timeout=300), p.stdout.read() if p.stdout else "", p.stderr.read() if p.stderr else "")
               for p in procs]
    for code, _out, err in results:
        assert code == 0, err
        assert err.count("note: saved scan #") == SAVES_EACH, err
    with HistoryStore.open(HistoryLocation(normalise(history_url), "test"), create=False) as store:
        scans = store.scans()
        assert len(scans) == PROCESSES * SAVES_EACH
        assert len({m.id for m in scans}) == len(scans)
        expected = scans[0].findings + scans[0].suppressed
        assert expected > 20
        for meta in scans:  # each transaction landed whole
            assert len(store.findings(meta.id)) == expected
            assert len(store.inputs(meta.id)) == 21
        assert store.schema_versions() == [1]
