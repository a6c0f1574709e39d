"""The fast YAML path (sources/fast_yaml.py) against the exact one (sources/k8s_yaml.py): every YAML file the
project holds, the fallback per document, the switch back to the exact path, and a quiet stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from kubehipaa.sources import fast_yaml, files, k8s_yaml
from tests.conftest import EXAMPLES, ROOT, SHARED
from tests.sources.fast_yaml_compare import documents_both, loads_both


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _compare_tree(root: Path) -> int:
    """fast == exact on every YAML file under root (documents, objects with lines, problems); files compared."""
    compared = 0
    for path in _yaml_files(root):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue  # not text: files.py refuses it before any YAML is read
        exact, fast = documents_both(text)
        assert fast == exact, path
        exact_load, fast_load = loads_both(text)
        assert fast_load == exact_load, path
        compared += 1
    return compared


def test_fast_equals_exact_on_every_yaml_file_of_the_tests() -> None:
    assert _compare_tree(ROOT / "tests") > 100


def test_fast_equals_exact_on_every_bundled_example() -> None:
    assert _compare_tree(EXAMPLES) > 5


def test_fast_equals_exact_on_the_shared_conformance_data() -> None:
    if not (SHARED / "conformance").exists():
        pytest.skip(f"upstream conformance data not found at {SHARED / 'conformance'} (it lives in ../shared)")
    assert _compare_tree(SHARED / "conformance") > 100


# Each of these makes its document go through the exact path: what rapidyaml's JSON would get wrong.
FALLBACK_CASES = {
    "bool word": "k: yes\n", "bool capital": "k: True\n", "null tilde": "k: ~\n", "null capital": "k: NULL\n",
    "octal": "k: 017\n", "hex": "k: 0x1F\n", "underscore": "k: 1_000\n", "signed": "k: +1\n",
    "integral float": "k: 1.0\n", "exponent": "k: 1e3\n", "inf": "k: .inf\n", "inf word": "k: inf\n",
    "huge int": "k: 18446744073709551616\n", "null key": "null: v\n", "float key": "1.0: v\n", "empty key": ": v\n",
    "anchor": "a: &x 1\nb: *x\n", "merge": "a: &x {m: 1}\nb:\n  <<: *x\n", "tag": "k: !!str 1\n",
    "duplicate key": "k: 1\nk: 2\n", "tab": "k:\tv\n", "escape": 'k: "\\/"\n', "block indent": "k: |2\n   x\n",
    "block header comment": "k: | # -x\n  a\n", "reserved": "k: @x\n", "flow end": "k: }\n",
    "complex key": "? a\n: b\n", "deep": "k: " + "[" * 300 + "]" * 300 + "\n",
    # found by mutating real manifests: libyaml refuses each, rapidyaml 0.15 read them as text
    "question in flow": "k: {ns: ???ci}\n", "colon before flow indicator": "k: {p:?? UDP}\n",
    "colon before flow start": "k: [a:[b]]\n",
    "flow over lines": "k: {a: b\n  c: d}\n", "flow list over lines": "k: [a,\n  b]\n",
}


@pytest.mark.parametrize("body", list(FALLBACK_CASES.values()), ids=list(FALLBACK_CASES))
def test_the_fallback_triggers_for_that_document_only(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream: a plain document, the risky one, another plain one. Only the risky one reaches the exact
    path, and the results equal the exact path's."""
    text = f"apiVersion: v1\nkind: A\n---\n{body}---\napiVersion: v1\nkind: B\n"
    seen: list[str] = []
    real = k8s_yaml.iter_documents

    def spy(t: str):  # type: ignore[no-untyped-def]
        seen.append(t)
        return real(t)

    monkeypatch.setattr(k8s_yaml, "iter_documents", spy)
    with fast_yaml.quiet_stderr():
        fast = list(fast_yaml.iter_documents(text.encode()))
    # one exact read, of that document only (a syntax error in it, which libyaml cannot resume after, also has
    # the rest of the file read the exact way: what the exact path alone reports for it)
    assert "kind: A" not in seen[0] and "kind: B" not in seen[0] and body.strip() in seen[0]
    assert len(seen) == 1 or (len(seen) == 2 and any(d.fatal for d in real(seen[0]))), seen
    monkeypatch.setattr(k8s_yaml, "iter_documents", real)
    exact, fast_docs = documents_both(text)
    assert fast_docs == exact
    assert [d.data for d in fast if d.error is None and isinstance(d.data, dict) and "kind" in d.data][:1] == [
        {"apiVersion": "v1", "kind": "A"}]


def test_a_plain_manifest_never_reaches_the_exact_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it all: ordinary manifests (numbers, quoted words, flow, block scalars, Lists) go fast."""
    text = (EXAMPLES / "clinic-insecure" / "workloads.yaml").read_text()
    monkeypatch.setattr(k8s_yaml, "iter_documents", lambda t: pytest.fail("exact path used"))
    plain = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n" \
            "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\n    labels: {x: 'yes', m: \"017\"}\n" \
            "  spec:\n    replicas: 3\n    cpu: 0.5\n    s: |+\n      keep\n\n"
    # (a plain `n` key would be the key "false" for go-yaml: only the exact path may read that)
    with fast_yaml.quiet_stderr():
        docs = list(fast_yaml.iter_documents(plain.encode()))
    assert docs[0].item_lines == [4, 7]
    assert docs[0].data["items"][1]["metadata"]["labels"] == {"x": "yes", "m": "017"}
    assert text  # the example itself is compared in full above


def test_list_items_keep_their_lines_on_the_fast_path() -> None:
    text = "# c\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n" \
           "# between\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: b}\n"
    exact, fast = loads_both(text)
    assert fast == exact
    assert [line for _, _, line in fast[0]] == [6, 10]


def test_exact_yaml_switches_every_yaml_input_to_the_exact_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--exact-yaml` and KUBEHIPAA_EXACT_YAML=1: the fast path is not used at all."""
    monkeypatch.setattr(fast_yaml, "iter_documents", lambda *a: pytest.fail("fast path used"))
    monkeypatch.setenv(fast_yaml.ENV_EXACT, "1")
    assert files.load_text("apiVersion: v1\nkind: A\n", "a.yaml").objects[0].doc == {"apiVersion": "v1", "kind": "A"}
    monkeypatch.delenv(fast_yaml.ENV_EXACT)
    fast_yaml.set_exact(True)
    try:
        assert files.load_text("apiVersion: v1\nkind: A\n", "a.yaml").objects
    finally:
        fast_yaml.set_exact(None)
    assert not fast_yaml.exact_requested()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}, timeout=120)


def test_cli_exact_yaml_gives_the_same_findings(tmp_path: Path) -> None:
    """The same scan, fast and exact (flag and environment): identical JSON findings, file:line included."""
    target = str(EXAMPLES / "clinic-insecure")
    fast = _cli("scan", target, "--format", "json")
    exact = _cli("--exact-yaml", "scan", target, "--format", "json")
    env = _cli("scan", target, "--format", "json", env={fast_yaml.ENV_EXACT: "1"})
    assert fast.returncode == exact.returncode == env.returncode
    found = [orjson.loads(out.stdout)["findings"] for out in (fast, exact, env)]
    assert found[0] == found[1] == found[2]
    assert len(found[0]) > 20 and all(f["resource"]["line"] for f in found[0] if f["resource"].get("file"))


def test_malformed_yaml_is_one_line_without_rapidyaml_noise(tmp_path: Path) -> None:
    """rapidyaml prints its own parse errors on fd 2; the user sees only the exact path's problem line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\n---\nk: [unclosed\n---\nk: v\n")
    out = _cli("scan", str(bad))
    assert out.returncode == 2
    assert "ERROR" not in out.stderr and "parse_engine" not in out.stderr and "[parse]" not in out.stderr
    assert "bad.yaml:5: malformed YAML" in out.stderr  # where libyaml stops: the exact path's own line


def test_findings_lines_are_identical_on_a_generated_corpus(tmp_path: Path) -> None:
    """The benchmark's generated workloads (9 objects each, a third misconfigured) plus hypothesis-shaped
    manifests: every finding, with its file:line and evidence, is the same fast and exact."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import scan_bench  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "bench"))
    scan_bench.generate(tmp_path, 30)
    (tmp_path / "list.yaml").write_text(
        "# pods\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a, "
        "namespace: team-00}\n  spec:\n    containers:\n    - name: c\n      image: x\n      securityContext:\n"
        "        privileged: true\n# between\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\n"
        "    namespace: team-01\n  spec:\n    hostNetwork: yes\n    containers: [{name: c, image: 'y'}]\n")
    fast = _cli("scan", str(tmp_path), "--format", "json")
    exact = _cli("--exact-yaml", "scan", str(tmp_path), "--format", "json")
    assert fast.returncode == exact.returncode
    found = [orjson.loads(out.stdout)["findings"] for out in (fast, exact)]
    assert found[0] == found[1]
    lines = {(f["resource"]["file"], f["resource"]["line"]) for f in found[0]}
    assert (str(tmp_path / "list.yaml"), 6) in lines and (str(tmp_path / "list.yaml"), 16) in lines
    assert len(found[0]) > 100
