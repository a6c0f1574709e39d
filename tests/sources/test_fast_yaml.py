"""The fast YAML path (sources/fast_yaml.py) against the exact one (sources/k8s_yaml.py): every YAML file the
project holds, the fallback per document, the switch back to the exact path, and a quiet stderr."""

from __future__ import annotations

import os
import re
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
    # libyaml refuses a `- ` entry after a flow collection or quoted scalar on its line; rapidyaml read two entries
    "entry after flow map": "k:\n- {a: 1}    - {b: 2}\n", "entry after flow list": "- [a] -\n",
    "entry after quoted": "k:\n- 'x' - 'y'\n",
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


# ---- the cheap whole-file forms of the text guards give what the plain searches gave ------------------------

def _naive_flow_hits(data: bytes) -> list[int]:
    """The per-line count of `_flagged`, as it was written before the whole-file test."""
    return [m.start() for m in fast_yaml._FLOW_LINE.finditer(data)
            if m.group().count(b"[") + m.group().count(b"{") != m.group().count(b"]") + m.group().count(b"}")]


FLOW_LINE_CASES = {
    "pair split over lines": b"k: [a,\n  b]\n",
    "map split over lines": b"k: {a: b,\n  c: d}\n",
    "closer before opener on one line": b"k: a}{b\n",
    "closer before opener, square": b"k: x][y\n",
    "quotes holding brackets": b"k: \"[\"\nj: '{'\n",
    "quoted closers balancing the line": b"k: [\"]\", a\n",
    "mixed kinds count as balanced": b"k: [a}\n",
    "balanced, nested": b"k: {a: [b, {c: d}]}\nj: [[], {}]\n",
    "only closers on a line": b"k: a]\nj: b}\n",
    "deep on one line": b"k: " + b"[" * 40 + b"]" * 40 + b"\n",
    "deep, one short": b"k: " + b"[" * 40 + b"]" * 39 + b"\n",
    "opener on the last line without a break": b"k: v\nj: [a",
}


@pytest.mark.parametrize("data", list(FLOW_LINE_CASES.values()), ids=list(FLOW_LINE_CASES))
def test_the_whole_file_bracket_test_never_hides_an_unbalanced_line(data: bytes) -> None:
    """`_flow_lines_balanced` may say True only where the per-line count finds no line: it skips that count."""
    naive = _naive_flow_hits(data)
    if fast_yaml._flow_lines_balanced(data):
        assert naive == []
    assert fast_yaml._flagged(data, fast_yaml._chunk_starts(data)) == ({0} if naive else set())


def test_the_bracket_pair_split_over_lines_is_still_flagged_per_document() -> None:
    """The whole-file test fails, so the per-line count runs and flags the document it always flagged;
    `}{` on one line is left to that count too (it counts as balanced, as before)."""
    data = b"a: 1\n---\nk: [a,\n  b]\n---\nk: {x: [y]}\n---\nk: a}{b\n---\nk: {y: [z]\n  }\n"
    assert fast_yaml._flow_lines_balanced(data) is False
    assert fast_yaml._flow_lines_balanced(b"k: a}{b\n") is False
    assert fast_yaml._flagged(data, fast_yaml._chunk_starts(data)) == {1, 4}


def test_a_balanced_flow_file_skips_the_per_line_count() -> None:
    assert fast_yaml._flow_lines_balanced(b"k: {a: [b, {c: d}]}\nports: [{port: 80}]\n")
    assert not fast_yaml._flow_lines_balanced(b"k: " + b"[" * 100 + b"]" * 100 + b"\n")  # past the rounds


def _naive_literal_hits(data: bytes) -> list[int]:
    hits = []
    for needle in fast_yaml._LITERAL_RISKS:
        at = data.find(needle)
        while at >= 0:
            hits.append(at)
            at = data.find(needle, at + 1)
    return sorted(hits)


def test_the_translated_searches_find_every_literal_risk_where_it_starts() -> None:
    """`_literal_hits` (two translations, six searches) == one search per needle of _LITERAL_RISKS, on every
    needle, on the file's own bytes 0-5 (which must not pass for a class byte), and on random text."""
    import random

    samples = [b"x" + needle + b"y" for needle in fast_yaml._LITERAL_RISKS]
    samples += [b"\x00:\x01:\x01?\x00\x03\x02\x03:\x01\x05 \x00\n\x02", b" :[:{:,::]:}:,:?:[:{ ] }\n]\n}[?{?,?<<<\t"]
    rnd = random.Random(19)
    alphabet = b" \n\t:[]{},?<x\x00\x01\x02\x03\x05"
    samples += [bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 60))) for _ in range(3000)]
    for data in samples:
        got: list[int] = []
        fast_yaml._literal_hits(data, got)
        assert sorted(got) == _naive_literal_hits(data), data


def _naive_has_word(compact: bytes) -> bool:
    low = compact.lower()
    return any(w in low for w in fast_yaml._WORDS_ANY_CASE) or any(w in compact for w in fast_yaml._WORDS_CAPITAL)


def test_the_word_prefilter_answers_as_the_fifteen_searches() -> None:
    """`_has_word` skips the searches when no piece between quotes is a word's text: same answer always."""
    import random

    words = [b"y", b"Y", b"n", b"yes", b"YeS", b"no", b"On", b"oFF", b"~", b"True", b"TRUE", b"False", b"FALSE",
             b"Null", b"NULL", b"true", b"false", b"null", b"nUlL", b"", b"yess", b"nn", b"Tru", b"o"]
    samples = [b'{"k":"' + w + b'"}' for w in words] + [b'{"' + w + b'":1}' for w in words]
    samples += [b'["a\\"yes\\""]', b'"y"', b"null", b'{"a":""}', b'{"":1}', b'["",1]']
    rnd = random.Random(19)
    alphabet = b'"yYnNeEsSoOfF~uUlLtTrRaA:,{}[]\\x'
    samples += [bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30))) for _ in range(5000)]
    for compact in samples:
        assert fast_yaml._has_word(compact) == _naive_has_word(compact), compact
    assert fast_yaml._has_word(b'{"k":"YeS"}') and not fast_yaml._has_word(b'{"k":"true","rules":"yess"}')


def _naive_number_strings(compact: bytes) -> list[tuple[bytes, bool]]:
    """The candidates of the number loop as it was written: `"` + sign/dot/digit, up to the next quote."""
    number_start = re.compile(rb'"[-+.0-9]')
    numberish = re.compile(rb"[-+._0-9a-fA-FxXoO]{1,40}|[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)")
    found = []
    for m in number_start.finditer(compact):
        start = m.start() + 1
        end = compact.find(b'"', start)
        if numberish.fullmatch(compact, start, end) is not None:
            found.append((compact[start:end], compact[end + 1 : end + 2] == b":"))
    return found


def test_the_number_string_scan_finds_what_the_number_loop_found() -> None:
    """One regex per candidate instead of find + fullmatch: the same (text, is-a-key) pairs on orjson's dumps
    of random values (escaped quotes, long digit runs, `.inf`, keys and values)."""
    import random

    rnd = random.Random(19)
    alphabet = '0123456789.+-_xXoOaAeEfF"\\:inf Na'

    def text() -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.choice((1, 2, 4, 8, 39, 40, 41, 45))))

    def value(depth: int) -> object:
        kind = rnd.random()
        if depth > 2 or kind < 0.4:
            return rnd.choice([text(), text(), ".inf", "-.Inf", "017", "1", 1, 1.5, None, True, "0" * 40, "1" * 41])
        if kind < 0.7:
            return [value(depth + 1) for _ in range(rnd.randint(0, 4))]
        return {text(): value(depth + 1) for _ in range(rnd.randint(0, 4))}

    for _ in range(3000):
        compact = orjson.dumps(value(0))
        got = [(m.group(1), m.group(2) is not None) for m in fast_yaml._NUMBER_STRING.finditer(compact)]
        assert got == _naive_number_strings(compact), compact


@pytest.mark.parametrize("text", [
    "a: 1\n---\nb: 2\n",  # content at the chunk start, `---` then content
    "# c\n\n---\n# d\nb: 2\n---  \nc: 3\n--- # e\n\n  d: 4\n",  # comments and blanks: the careful match
    "---\n- x\n---\n-  y\n",  # `- ` after `---`: a List's dash is not skipped text
    "---\nkind: v\n",
])
def test_document_lines_from_the_shortcut_equal_the_exact_path(text: str) -> None:
    """`_place` skips its regex when content starts right at the chunk or right after `---`: same lines."""
    exact, fast = documents_both(text)
    assert fast == exact


def test_a_comment_only_preamble_and_a_file_without_documents_line_up() -> None:
    """`_whole_file` checks only the count; the nodes are built only when documents are read one by one
    (here: one document needs the exact path, so the others are read from their own nodes)."""
    for text in ("# only a comment\n", "# c\n---\na: 1\n---\nb: &x 2\n---\nc: 3\n", "---\na: 1\n---\nb: yes\n"):
        exact, fast = documents_both(text)
        assert fast == exact, text


def _naive_chunk_starts(data: bytes) -> list[int]:
    """The separator loop as it was written (one find per `---`)."""
    starts = [0]
    at = 0 if data.startswith(b"---") else data.find(b"\n---")
    while at >= 0:
        begin = at if at == 0 and data.startswith(b"---") else at + 1
        if data[begin + 3 : begin + 4] in (b"", b" ", b"\t", b"\n") and begin != 0:
            starts.append(begin)
        at = data.find(b"\n---", begin + 2)
    starts.append(len(data))
    return starts


def test_the_separator_regex_cuts_where_the_loop_cut() -> None:
    import random

    rnd = random.Random(19)
    samples = [b"", b"---", b"---\n", b"a\n---", b"a\n----\n---x\n--- \n---\t\n---\n---\n", b"\n---\n---"]
    samples += [bytes(rnd.choice(b"-\n \ta") for _ in range(rnd.randint(0, 14))) for _ in range(20000)]
    for data in samples:
        assert fast_yaml._chunk_starts(data) == _naive_chunk_starts(data), data
