"""Byte-identity of scan output between two source trees: proof that a speed-up changed no finding.

Performance work on the checks, the inventory and the reports must not change a single finding, line or byte of
output. This script scans the same inputs with two `src/` trees (by default: `git archive REF src` of a base
commit, and this checkout's src/) and compares the JSON, SARIF, JUnit and table outputs byte for byte.

Inputs (default): each directory under examples/ (once with its own `.kubehipaa.yaml` trusted, so exceptions
and PHI settings are exercised, once without), every case directory under tests/cases/, and any corpus given
with `--corpus` (e.g. one written by `bench/scan_bench.py --keep DIR`). Reports are rendered with
SOURCE_DATE_EPOCH=0, so the only difference two trees can show is a real one.

    .venv/bin/python bench/scan_identity.py --base HEAD~3            # examples + tests/cases
    .venv/bin/python bench/scan_identity.py --base main --corpus /tmp/corpus-2000 --formats json

Exit 0 when every output is identical, 1 (listing the differing outputs) otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("json", "sarif", "junit", "table")


def default_inputs() -> list[tuple[str, str, bool]]:
    """(label, path, trust the config found in it) for the examples and every case directory of tests/cases."""
    out: list[tuple[str, str, bool]] = []
    for ex in sorted((ROOT / "examples").iterdir()):
        if ex.is_dir():
            out.append((f"examples/{ex.name}", str(ex), False))
            out.append((f"examples/{ex.name}+config", str(ex), True))
    cases = ROOT / "tests" / "cases"
    if cases.is_dir():
        out.extend((f"cases/{d.name}", str(d), False) for d in sorted(cases.iterdir()) if d.is_dir())
    return out


def child(spec_file: str) -> None:
    """Run in a child with one tree's src/ first on sys.path: scan each input, print {label/format: sha256}."""
    from kubehipaa.config import load_config
    from kubehipaa.errors import KubehipaaError
    from kubehipaa.pipelines.scan import scan
    from kubehipaa.reports import render
    from kubehipaa.sources.files import load_paths

    spec = json.loads(Path(spec_file).read_text())
    out_dir = Path(spec["out"])
    digests: dict[str, str] = {}
    for label, path, trust in spec["inputs"]:
        try:
            config = load_config(None, [path], trust=trust)
            run = scan(load_paths([path]), config)
            texts = {fmt: render(run.result, fmt, config, width=120) for fmt in spec["formats"]}
        except KubehipaaError as exc:  # a case built to be refused must be refused the same way by both trees
            texts = {"error": f"{type(exc).__name__}: {exc}"}
        for fmt, text in texts.items():
            key = f"{label}/{fmt}"
            digests[key] = hashlib.sha256(text.encode()).hexdigest()
            if spec["keep"]:
                target = out_dir / (key.replace("/", "__") + ".txt")
                target.write_text(text)
    print(json.dumps(digests))


def run_tree(src: Path, inputs: list[tuple[str, str, bool]], formats: list[str], out: Path, keep: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "spec.json"
    spec.write_text(json.dumps({"inputs": inputs, "formats": formats, "out": str(out), "keep": keep}))
    env = dict(os.environ, PYTHONPATH=str(src), SOURCE_DATE_EPOCH="0", KUBEHIPAA_LOAD_JOBS="1")
    proc = subprocess.run([sys.executable, __file__, "--child", str(spec)], capture_output=True, text=True,
                          env=env, check=False, cwd=str(ROOT))
    if proc.returncode != 0:
        raise SystemExit(f"scan with {src} failed:\n{proc.stderr}")
    result: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="HEAD", help="git ref whose src/ is the reference (default HEAD)")
    parser.add_argument("--base-src", type=Path, help="a src/ directory to use as the reference instead of --base")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the tree under test (default: ./src)")
    parser.add_argument("--corpus", action="append", default=[], help="another input directory (repeatable)")
    parser.add_argument("--only-corpus", action="store_true", help="leave out the examples and tests/cases")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--keep", type=Path, help="write every output under this directory (base/ and new/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    inputs = [] if args.only_corpus else default_inputs()
    inputs += [(f"corpus/{Path(c).name}", str(Path(c).resolve()), False) for c in args.corpus]
    with tempfile.TemporaryDirectory(prefix="kubehipaa-identity-") as tmp:
        work = args.keep or Path(tmp)
        base_src = args.base_src
        if base_src is None:
            export = Path(tmp) / "base-tree"
            export.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "src"], capture_output=True,
                                     check=True)
            subprocess.run(["tar", "-x", "-C", str(export)], input=archive.stdout, check=True)
            base_src = export / "src"
        base = run_tree(base_src, inputs, args.formats, work / "base", args.keep is not None)
        new = run_tree(args.src, inputs, args.formats, work / "new", args.keep is not None)
    differ = sorted(k for k in base.keys() | new.keys() if base.get(k) != new.get(k))
    print(f"{len(base)} outputs of {len(inputs)} inputs compared ({', '.join(args.formats)}), "
          f"reference {base_src if args.base_src else args.base}: "
          + ("all byte-identical" if not differ else f"{len(differ)} differ"))
    for key in differ:
        print(f"  differs: {key}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
