"""The fast YAML path: rapidyaml parses, JSON carries the values, the exact path decides the rest.

`k8s_yaml` is the exact loader (libyaml composes, go-yaml's rules type every scalar) and stays the
reference. Here rapidyaml (C++) parses a whole file in place and writes it as JSON (a stream is an array
of its documents), which orjson reads in one call: several times faster. That JSON keeps plain-vs-quoted
only for what rapidyaml takes for numbers, `true`/`false`/`null` and empty values; go-yaml types more
plain scalars (`~`, `Null`, `yes`/`on`/`y` in most cases, `0x1F`, `017`, `1_000`, `.inf`, `1.0` read as
the integer 1...), and rapidyaml accepts some text libyaml refuses. So every document the guards below
cannot clear is read by `k8s_yaml` instead (that document only; the whole file for a few file-wide
features):

- whole file: a BOM, a line break other than `\n`, a directive (`%`), a `...` marker;
- per document, in the raw bytes (`_flagged`): anchors, aliases, tags, `@`/backtick/`%` where a token
  starts, merge keys, tabs, complex keys, unusual escapes, explicit block indentation, a comment after a
  block header, and the shapes the differential tests and the mutation fuzz found rapidyaml reading
  otherwise. Each is one whole-file search (a few C scans per file: byte-class translations, literal-first
  regexes, a bracket-balance pass), not a loop per needle or per line;
- per document, in the JSON (`_json_safe`, `_same_keys`): a string that a plain scalar go-yaml types
  could have become (unless the text shows it only quoted), a float go-yaml's JSON writes as an integer,
  a key go-yaml converts, a key written twice (counted: the exact path names it with its line), nesting
  past `k8s_yaml.MAX_DEPTH`, JSON orjson refuses;
- rapidyaml refusing the text (a syntax error then ends the file where libyaml says, as before).

The guards are conservative: a false alarm only costs the exact path's time for that document. Lines come
from byte offsets (`_place`): a document's line is its first content line after `---` and comments, as
libyaml marks the root node; a List item's line the line of its `- `. docs/yaml.md has the list and the
measurements; tests/sources/test_fast_yaml*.py compare both paths.
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

try:
    import ryml
except ImportError:  # pragma: no cover - a platform without a rapidyaml wheel: the exact path reads all
    ryml = None

from kubehipaa.sources import go_scalars, k8s_yaml
from kubehipaa.sources.json_keys import key_ends
from kubehipaa.sources.k8s_yaml import Document

__all__ = ["ENV_EXACT", "exact_requested", "iter_documents", "quiet_stderr", "set_exact"]

ENV_EXACT = "KUBEHIPAA_EXACT_YAML"
_exact_chosen: bool | None = None


def exact_requested() -> bool:
    """Every YAML input via `k8s_yaml`: the CLI's `--exact-yaml` (`set_exact`), else `KUBEHIPAA_EXACT_YAML=1`."""
    if _exact_chosen is not None:
        return _exact_chosen
    return os.environ.get(ENV_EXACT, "").strip().lower() not in ("", "0", "false", "no")


def set_exact(value: bool | None) -> None:
    """Choose the exact path for this process (True), or go back to the environment's choice (None)."""
    global _exact_chosen
    _exact_chosen = value


# ---- the scan ------------------------------------------------------------------------------------------

# libyaml counts these as line breaks (rapidyaml does not), a BOM, a directive, a document end marker
_WHOLE_FILE = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xef\xbb\xbf")

# In the raw text, per document: what only the exact path reads (each pattern is tried only when the
# file contains its first character at all). Node properties and complex keys count where a token starts.
_TOKEN_START = b" \t[{,\n"
# Characters that mean something where a token starts (at a line start or after a space, `[`, `{` or `,`):
# anchors, aliases, tags; and the reserved `@` and backtick, and `%`, which libyaml refuses there and
# rapidyaml reads as text.
_TOKEN_RISKS = (b"&", b"*", b"!", b"@", b"`", b"%")
# Anywhere: merge keys; tabs (separators where the two disagree); and where rapidyaml accepts what libyaml
# refuses or reads otherwise (found by the differential tests): a `:` after a space or a flow start, a `:`
# before any of `,?[]{}` (libyaml refuses it inside a flow), a `]` or `}` after a space (in block context libyaml refuses it), `?` in a flow.
_LITERAL_RISKS = (b"<<", b"\t", b" :", b"[:", b"{:", b",:", b":]", b":}", b":,", b":?", b":[", b":{", b" ]", b" }", b"\n]", b"\n}",
                  b"[?", b"{?", b",?")
# The two-byte ones are found in two translations of the file (one byte for one byte, so positions are the
# file's) where each class of bytes a needle may start or end with is one byte: 6 searches instead of 17.
# A class byte stands for exactly its class: the file's own bytes 0-3 become byte 5.


def _class_table(classes: dict[bytes, int]) -> bytes:
    table = bytearray(range(256))
    table[0:4] = b"\x05" * 4
    for members, code in classes.items():
        for byte in members:
            table[byte] = code
    return bytes(table)


_BEFORE_CLASSES = _class_table({b" ": 0, b"[{,": 1, b"\n": 2, b"]}": 3})
_BEFORE_NEEDLES = (
    b"\x00:",  # ` :`
    b"\x01:",  # `[:` `{:` `,:`
    b"\x01?",  # `[?` `{?` `,?`
    b"\x00\x03",  # ` ]` ` }`
    b"\x02\x03",  # `\n]` `\n}`
)
_AFTER_COLON = _class_table({b"]},?[{": 1})  # `:]` `:}` `:,` `:?` `:[` `:{` as `:\x01`
_PATTERN_RISKS: tuple[tuple[bytes, re.Pattern[bytes], bool], ...] = (
    # (trigger, pattern, only where a token starts)
    # a complex key (also after `-`: checked below). Where a token starts, whatever follows: inside a flow
    # libyaml reads every such `?` as the key indicator (`{ns: ???x}` is refused), rapidyaml as text
    (b"?", re.compile(rb"\?"), True),
    (b"\\", re.compile(rb"\\[^nt\"\\]"), False),  # escapes other than \n \t \" \\ (and regex text like \d)
    # explicit block indentation; a comment after a block header (rapidyaml 0.15 reads a `-`, `+` or digit
    # in that comment as a chomping or indentation indicator)
    (b"|", re.compile(rb"\|(?:[-+]?[0-9]|[-+0-9]*[ \t]+#)"), False),
    (b">", re.compile(rb">(?:[-+]?[0-9]|[-+0-9]*[ \t]+#)"), False),
    # a `- ` entry after a flow collection or a quoted scalar on its line (`- {a: 1} - {b: 2}`): libyaml
    # refuses it, rapidyaml 0.15 reads a second entry (found by the mutation fuzz). One pattern per closing
    # character: a literal first character makes the regex search 3x faster than a class
    *((end, re.compile(re.escape(end) + rb"[ \t]*-(?=[ \t\n]|\Z)"), False) for end in (b"]", b"}", b"'", b'"')),
)

_FLOW_LINE = re.compile(rb"^[^\n]*[\[{][^\n]*", re.M)
"""A line holding a flow collection's opening bracket."""

# Every byte but brackets and line breaks deleted, `{` `}` written as `[` `]`: for the whole-file test below.
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}\n")
_BRACKETS_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_BALANCE_ROUNDS = 16  # deeper nesting than this: the per-line count decides (bounded work on any input)

# rapidyaml writes the plain scalars `inf`, `-inf`, `nan`, `infinity`, `.Inf`, `.NaN`... as these strings
_REWRITTEN = frozenset({b".inf", b"-.inf", b"+.inf", b".nan", b"-.nan", b"+.nan"})
# the words go-yaml types (bool, null) in any case, as JSON strings, after bytes.lower()
_WORDS_ANY_CASE = (b'"y"', b'"n"', b'"yes"', b'"no"', b'"on"', b'"off"', b'"~"', b'"":', b'"null":')  # searched after lower()
_WORDS_CAPITAL = (b'"True"', b'"TRUE"', b'"False"', b'"FALSE"', b'"Null"', b'"NULL"')
# the text of each word in every case, and the capital words: see _has_word
_WORD_FORMS = frozenset(
    bytes(form)
    for word in (b"y", b"n", b"yes", b"no", b"on", b"off", b"~", b"null")
    for form in itertools.product(*({c, ord(chr(c).upper())} for c in word))
) | frozenset(w.strip(b'"') for w in _WORDS_CAPITAL)
# a JSON string (its text, then `:` when it is a key) that looks like a number (`"0x1F"`, `"017"`,
# `"1_000"`, `".inf"`): a `"`, a sign, dot or digit, up to 40 such characters in all, the closing `"`
_NUMBER_STRING = re.compile(rb'"([-+.0-9][-+._0-9a-fA-FxXoO]{0,39}|[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN))"(:)?')
# any string that could be one of the above, with `:` after it when it is a key (the careful pass)
_JSON_STRINGS = re.compile(
    rb'"([-+.0-9][-+._0-9a-fA-FxXoO]{0,40}|[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)|~|[yYnN]|[oO][nNfF][fF]?|[yY][eE][sS]'
    rb'|[nN][oO]|[tT][rR][uU][eE]|[fF][aA][lL][sS][eE]|[nN][uU][lL][lL]|)"(:)?'
)
# floats that go-yaml's JSON would write as integers: integral (`1000.0`) or with an exponent (`1e16`), after a
# key or in a list (orjson's float forms)
_INTEGRAL_FLOAT = re.compile(rb'(?:":|[\[,])-?[0-9]+\.0[,\]}]')
_NEGATIVE_EXPONENT = re.compile(rb"e-[0-9]")
_EXPONENT_FLOAT = re.compile(rb'(?:":|[\[,])-?[0-9]+(?:\.[0-9]+)?e[-+]?[0-9]+[,\]}]')

_SEPARATOR = re.compile(rb"\n---(?=[ \t\n]|\Z)")
_SKIPPED = b"- \t#\n"  # what _SKIP_TO_CONTENT may skip first (`---`, blanks, comments, line breaks)
_SKIP_TO_CONTENT = re.compile(rb"(?:---[ \t]*(?:#[^\n]*)?(?:\n|\Z))?(?:[ \t]*(?:#[^\n]*)?\n)*")

_OK, _CHECK, _FALLBACK = 0, 1, 2
_VERDICTS: dict[tuple[bytes, bool], int] = {}


def _string_verdict(content: bytes, key: bool) -> int:
    """Whether a JSON string (or key) of rapidyaml could differ from what go-yaml made of its scalar:
    _OK (no), _CHECK (only if the text holds it unquoted), _FALLBACK (read the document exactly)."""
    got = _VERDICTS.get((content, key))
    if got is not None:
        return got
    verdict = _OK
    if content in _REWRITTEN or (key and not content):
        verdict = _FALLBACK  # (an empty key: plain, it is null, which Kubernetes refuses)
    else:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:  # pragma: no cover - cut inside a character: not a candidate
            text = ""
        gv = go_scalars.resolve_plain(text)
        if text and gv.kind != "string":
            if key:
                try:
                    same = gv.json_key() == text
                except go_scalars.GoDecodeError:
                    same = False
            else:
                same = not _ryml_plain_is_string(content)  # then the JSON string was written quoted
            verdict = _OK if same else _CHECK
    if len(_VERDICTS) > 100_000:
        _VERDICTS.clear()
    _VERDICTS[(content, key)] = verdict
    return verdict


def _ryml_plain_is_string(content: bytes) -> bool:
    """Does rapidyaml write the plain scalar `content` as a JSON string?"""
    tree = ryml.Tree()
    try:
        ryml.parse_in_arena(b"- " + content + b"\n", tree=tree)
        out = orjson.loads(ryml.emit_json_malloc(tree, tree.root_id()))
    except Exception:  # anything odd: treat as a string, the check then looks at the text
        return True
    return not (isinstance(out, list) and len(out) == 1 and not isinstance(out[0], str))


def _json_safe(compact: bytes, data: bytes, a: int, b: int) -> bool:
    """No value read from rapidyaml's JSON (`compact`: orjson's dump of what was read) for data[a:b] can
    differ from the exact path's. Cheap tests first (whole-text searches); the careful pass over every
    candidate string only when a word is there."""
    if (b".0," in compact or b".0]" in compact or b".0}" in compact) and _INTEGRAL_FLOAT.search(compact):
        return False
    if (b"e+" in compact or _NEGATIVE_EXPONENT.search(compact)) and _EXPONENT_FLOAT.search(compact):
        return False
    if _has_word(compact):
        return _strings_safe(compact, data, a, b)
    for m in _NUMBER_STRING.finditer(compact):
        content = m.group(1)
        verdict = _string_verdict(content, m.group(2) is not None)
        if verdict != _OK and not _unquoted_absent(verdict, content, data, a, b):
            return False
    return True


def _has_word(compact: bytes) -> bool:
    """Any of _WORDS_ANY_CASE (in any case) or _WORDS_CAPITAL in `compact`. A word is `"` + text without
    quotes + `"`, so its text is one piece of compact.split('"'): when no piece is any case form of a word's
    text (and no `"":` is there), none is present and the fifteen searches are skipped."""
    if b'"":' not in compact and _WORD_FORMS.isdisjoint(compact.split(b'"')):
        return False
    low = compact.lower()
    return any(w in low for w in _WORDS_ANY_CASE) or any(w in compact for w in _WORDS_CAPITAL)


def _strings_safe(compact: bytes, data: bytes, a: int, b: int) -> bool:
    for m in _JSON_STRINGS.finditer(compact):
        content = m.group(1)
        verdict = _string_verdict(content, m.group(2) is not None)
        if verdict != _OK and not _unquoted_absent(verdict, content, data, a, b):
            return False
    return True


_PLAIN_OCCURRENCE: dict[bytes, re.Pattern[bytes]] = {}


def _unquoted_absent(verdict: int, content: bytes, data: bytes, a: int, b: int) -> bool:
    """For a _CHECK verdict: the text holds `content` nowhere as a plain token (only quoted, or inside a
    longer text), so rapidyaml's string came from a quoted scalar, as go-yaml reads it too."""
    if verdict == _FALLBACK:
        return False
    pattern = _PLAIN_OCCURRENCE.get(content)
    if pattern is None:
        if len(_PLAIN_OCCURRENCE) > 10_000:
            _PLAIN_OCCURRENCE.clear()
        pattern = _PLAIN_OCCURRENCE[content] = re.compile(
            rb"(?<![^\s\[\]{},:?-])" + re.escape(content) + rb"(?![^\s\[\]{},:#])"
        )
    return pattern.search(data, a, b) is None


# ---- the loader ----------------------------------------------------------------------------------------

_STDERR_LOCK = threading.RLock()
_quiet_depth = 0


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """fd 2 pointed at /dev/null while rapidyaml parses: it prints its errors there before raising, and
    the exact path then says what is wrong in one line. Nested uses cost nothing, so a caller that reads
    many files (files.py) wraps them all once instead of paying the system calls per file."""
    global _quiet_depth
    with _STDERR_LOCK:
        if _quiet_depth:
            _quiet_depth += 1
            try:
                yield
            finally:
                _quiet_depth -= 1
            return
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 at all: nothing to protect
            saved = -1
        if saved >= 0:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        _quiet_depth = 1
        try:
            yield
        finally:
            _quiet_depth = 0
            if saved >= 0:
                os.dup2(saved, 2)
                os.close(saved)


def iter_documents(data: bytes, text: str | None = None) -> Iterator[Document]:
    """Every document of a YAML stream (UTF-8 `data`; `text` its decoded form if the caller has it), as
    `k8s_yaml.iter_documents` gives them: same data, lines, problems and warnings, faster."""
    if ryml is None or _whole_file_exact(data):
        yield from k8s_yaml.iter_documents(text if text is not None else data.decode("utf-8"))
        return
    starts = _chunk_starts(data)
    chunks = len(starts) - 1
    flagged = _flagged(data, starts)
    docs: list[Document | None] = [None] * chunks  # None: the exact path reads it
    tree = ryml.Tree()
    buf = bytearray(data)  # rapidyaml's tree points into it: it must live as long as the tree
    with quiet_stderr():
        first = _whole_file(tree, buf, data, starts)
        if first is None:
            for i in range(chunks):
                if i not in flagged:
                    docs[i] = _chunk(data, starts[i], starts[i + 1])
        elif not _all_at_once(tree, first, chunks, flagged, docs, data):
            nodes = _nodes(tree, first, chunks)
            for i in range(chunks):
                if i not in flagged:
                    node = nodes[i]
                    docs[i] = _EMPTY if node is None else _from_node(tree, node, data, starts[i], starts[i + 1])
    line, pos = 1, 0  # the line where chunk i starts
    for i in range(chunks):
        a = starts[i]
        line += data.count(b"\n", pos, a)
        pos = a
        doc = docs[i]
        if doc is None:
            exact = list(_exact(data, a, starts[i + 1], line))
            if any(d.fatal for d in exact):  # a syntax error: the rest of the file as libyaml reads it
                yield from _exact(data, a, len(data), line)
                return
            yield from exact
        elif doc is not _EMPTY:
            _place(doc, data, a, starts[i + 1], line)
            if doc.line is not None:
                yield doc
            else:  # a List whose items the text scan cannot place
                yield from _exact(data, a, starts[i + 1], line)


_EMPTY = Document()


def _whole_file_exact(data: bytes) -> bool:
    """A BOM, a line break libyaml counts and rapidyaml does not, a directive, a document end marker."""
    if data.startswith((b"%", b"...")) or b"\r" in data or b"\n%" in data or b"\n..." in data:
        return True
    return not data.isascii() and any(w in data for w in _WHOLE_FILE)


def _chunk_starts(data: bytes) -> list[int]:
    """Where each document's text starts (0, then every `---` at a line start after the first line,
    followed by a blank, a line break or the end), and the end."""
    return [0, *[m.start() + 1 for m in _SEPARATOR.finditer(data)], len(data)]


def _whole_file(tree: Any, buf: bytearray, data: bytes, starts: list[int]) -> int | None:
    """rapidyaml's parse of the whole file: the first chunk holding a document (0, or 1 when the text
    before the first `---` is only comments; the chunks from it on hold the documents in order), or None
    when the parse fails or its documents do not line up with the chunks. Only the count is checked here:
    the nodes themselves (`_nodes`) are needed only when the documents are read one by one."""
    try:
        ryml.parse_in_place(buf, tree=tree)
    except Exception:  # rapidyaml raises its own classes for every refusal
        return None
    root = tree.root_id()
    chunks = len(starts) - 1
    skip = _SKIP_TO_CONTENT.match(data, 0, starts[1])
    first_has_doc = data.startswith(b"---") or (skip is not None and skip.end() < starts[1])
    if tree.is_stream(root):
        count = tree.num_children(root)
        if first_has_doc:
            return 0 if count == chunks else None
        return 1 if count == chunks - 1 else None
    if chunks != 1:
        return None
    if tree.type_str(root) == "NOTYPE":
        return 1  # the one chunk holds no document
    return 0 if first_has_doc else None


def _nodes(tree: Any, first: int, chunks: int) -> list[Any]:
    """The node of each chunk (None for a chunk without a document), after `_whole_file` gave `first`."""
    if first == chunks:
        return [None] * chunks
    root = tree.root_id()
    docs: list[Any] = list(ryml.children(tree, root)) if tree.is_stream(root) else [root]
    return [None] * first + docs


def _all_at_once(tree: Any, first: int, chunks: int, flagged: set[int], docs: list[Document | None],
                 data: bytes) -> bool:
    """Read the whole stream's JSON in one go (rapidyaml writes a stream as an array of its documents) and
    check it at once: one call each to rapidyaml, orjson.loads and orjson.dumps, one scan. False when
    anything is off: each document is then looked at on its own."""
    root = tree.root_id()
    read = _json(tree, root)
    if read is None:
        return False
    values, js, compact = read
    if not tree.is_stream(root):
        values = [values]
    present = range(first, chunks)  # the chunks holding a document
    if len(values) != len(present) or not _same_keys(js, compact) or not _json_safe(compact, data, 0, len(data)):
        return False
    for i in range(chunks):
        if i not in flagged:
            docs[i] = _EMPTY
    for i, value in zip(present, values, strict=True):
        if i not in flagged and value is not None:
            docs[i] = Document(value)
    return True


def _same_keys(js: str, compact: bytes) -> bool:
    """As many keys in orjson's dump as in rapidyaml's JSON: no key was written twice (orjson keeps the
    last value silently; the exact path names the duplicate with its line).

    A key ends with a quote that closes a string (not preceded by an odd number of backslashes) followed
    by `":` (orjson) or `": ` (rapidyaml). A quote that opens a string starting with `:` looks the same;
    in orjson's compact text an opening quote follows `{`, `[`, `,` or `:`, so when none of those pairs
    precedes `":` no string starts with a colon, in either text, and the counts are exact. Otherwise the
    answer is False: the exact path decides.
    """
    if b'{":' in compact or b'[":' in compact or b',":' in compact or b':":' in compact:
        return False
    if '\\"' in js:  # quotes inside strings: count only the `"` that close a string
        return key_ends(js, '": ') == key_ends(compact, b'":')
    return js.count('": ') == compact.count(b'":')


def _flagged(data: bytes, starts: list[int]) -> set[int]:
    """Indexes of the chunks (documents) where the text scan found something."""
    hits: list[int] = []
    if data[:1] in (b"]", b"}"):
        hits.append(0)
    if not data.endswith(b"\n") and (data.find(b"|", starts[-2]) >= 0 or data.find(b">", starts[-2]) >= 0):
        hits.append(len(data) - 1)  # a block scalar may end the file without a line break: libyaml adds none
    for needle in _TOKEN_RISKS:
        at = data.find(needle)
        while at >= 0:
            if at == 0 or data[at - 1] in _TOKEN_START:
                hits.append(at)
            at = data.find(needle, at + 1)
    _literal_hits(data, hits)
    for trigger, pattern, token_start in _PATTERN_RISKS:
        if trigger in data:
            for m in pattern.finditer(data):
                at = m.start()
                if not token_start or at == 0 or data[at - 1] in _TOKEN_START or (
                    trigger == b"?" and data[at - 1] == 45  # `-?`: a complex key in a sequence entry
                ):
                    hits.append(at)
    if (b"{" in data or b"[" in data) and not _flow_lines_balanced(data):
        # a flow collection that goes on past its line: libyaml and rapidyaml disagree on what a line break
        # inside a flow may end (an implicit key, a plain scalar), so such a document is read exactly. A line
        # whose openers and closers do not balance (quotes included: that only sends more to the exact path)
        for m in _FLOW_LINE.finditer(data):
            line = m.group()
            if line.count(b"[") + line.count(b"{") != line.count(b"]") + line.count(b"}"):
                hits.append(m.start())
    return {bisect.bisect_right(starts, at) - 1 for at in hits}


def _literal_hits(data: bytes, hits: list[int]) -> None:
    """Append where each of _LITERAL_RISKS starts in data (the same positions a search for each gives)."""
    for needle in (b"<<", b"\t"):
        if needle in data:
            _find_all(data, needle, hits)
    classes = data.translate(_BEFORE_CLASSES)
    for needle in _BEFORE_NEEDLES:
        _find_all(classes, needle, hits)
    _find_all(data.translate(_AFTER_COLON), b":\x01", hits)


def _find_all(data: bytes, needle: bytes, hits: list[int]) -> None:
    at = data.find(needle)
    while at >= 0:
        hits.append(at)
        at = data.find(needle, at + 1)


def _flow_lines_balanced(data: bytes) -> bool:
    """True only when every line holds as many closing as opening brackets (the per-line count of
    `_flagged` then finds nothing): one pass over the file instead of four counts per line.

    Only brackets and line breaks are kept, `{}` written as `[]`; removing an adjacent `[]` takes one
    opener and one closer from one line (a line break lies between any two lines' brackets), so no line's
    difference changes. When nothing is left, every difference was 0. Anything left (`][`, `[}` counted
    as balanced, nesting past _BALANCE_ROUNDS, a real imbalance): False, the per-line count decides."""
    kept = data.translate(_BRACKETS_AS_SQUARE, _NOT_BRACKET)
    for _ in range(_BALANCE_ROUNDS):
        if b"[]" not in kept:
            break
        kept = kept.replace(b"[]", b"")
    return b"[" not in kept and b"]" not in kept


def _exact(data: bytes, a: int, b: int, line: int) -> Iterator[Document]:
    """`k8s_yaml` on data[a:b], with blank lines before it so that its lines are the file's."""
    return k8s_yaml.iter_documents("\n" * (line - 1) + data[a:b].decode("utf-8"))


def _chunk(data: bytes, a: int, b: int) -> Document | None:
    """One document parsed on its own (when the whole file did not parse), or None for the exact path."""
    tree = ryml.Tree()
    buf = bytearray(data[a:b])  # alive until the JSON is written: the tree points into it
    try:
        ryml.parse_in_place(buf, tree=tree)
    except Exception:  # rapidyaml raises its own classes for every refusal
        return None
    root = tree.root_id()
    if tree.is_stream(root):
        if tree.num_children(root) != 1:
            return None
        root = tree.first_child(root)
    elif tree.type_str(root) == "NOTYPE":
        return _EMPTY  # nothing but comments and blank lines
    doc = _from_node(tree, root, data, a, b)
    del buf
    return doc


def _json(tree: Any, node: int) -> tuple[Any, str, bytes] | None:
    """rapidyaml's JSON of `node`, its value (orjson) and orjson's compact dump of it; None when rapidyaml
    refuses to write it, orjson to read it, or it is nested deeper than MAX_DEPTH (orjson's dump limit is
    the same): the exact path then reads and names it."""
    try:
        js = ryml.emit_json_malloc(tree, node)
    except Exception:  # rapidyaml raises its own classes
        return None
    try:
        value = orjson.loads(js)
        return value, js, orjson.dumps(value)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None


def _from_node(tree: Any, node: int, data: bytes, a: int, b: int) -> Document | None:
    """One document from rapidyaml's JSON of `node`, or None when the exact path must read it."""
    read = _json(tree, node)
    if read is None:
        return None
    value, js, compact = read
    if value is None:
        return _EMPTY  # `k8s_yaml` yields nothing for an empty document (or a null one: nothing to add)
    if not _same_keys(js, compact) or not _json_safe(compact, data, a, b):
        return None
    return Document(value)


def _place(doc: Document, data: bytes, a: int, b: int, line: int) -> None:
    """Set the document's line (its content's first line, after `---` and comments, as libyaml marks the
    root node) and, for a List, its items' lines; `line` None when the items cannot be placed."""
    if a < b and data[a] not in _SKIPPED:  # (content right at the chunk's start: the first chunk, no comment)
        end, first = a, line
    elif data.startswith(b"---\n", a) and a + 4 < b and data[a + 4] not in _SKIPPED:  # `---` then content
        end, first = a + 4, line + 1
    else:
        skip = _SKIP_TO_CONTENT.match(data, a, b)
        end = skip.end() if skip is not None else a
        first = line + data.count(b"\n", a, end)
    doc.line = first
    value = doc.data
    if value.__class__ is dict and value.get("items").__class__ is list and value["items"]:
        kind = value.get("kind")
        if isinstance(kind, str) and kind.endswith("List"):
            doc.item_lines = _item_lines(data, end, b, first, len(value["items"]))
            if doc.item_lines is None:
                doc.line = None


_ITEMS_KEY = re.compile(rb"^items:[ \t]*(?:#[^\n]*)?\n", re.MULTILINE)
_CONTENT_LINE = re.compile(rb"^([ ]*)(?=[^ \n#])", re.MULTILINE)


def _item_lines(data: bytes, start: int, end: int, first: int, count: int) -> list[int] | None:
    """Lines of the `count` entries of a top-level block `items:` sequence (`- ` at one indentation, each
    with its content on the line of its dash), or None when the text does not show exactly that."""
    found = list(_ITEMS_KEY.finditer(data, start, end))
    if len(found) != 1:
        return None
    at = found[0].end()
    m = _CONTENT_LINE.search(data, at, end)
    if m is None:
        return None
    indent = len(m.group(1))
    item = re.compile(rb"^" + b" " * indent + rb"-(?=[ \n])", re.MULTILINE)
    if indent:
        stop = re.compile(rb"^(?: {0,%d}[^ \n#]| {%d}(?!-[ \n])[^ \n#])" % (indent - 1, indent), re.MULTILINE)
    else:
        stop = re.compile(rb"^(?!-[ \n])[^ \n#]", re.MULTILINE)
    s = stop.search(data, m.start(), end)
    seq_end = s.start() if s is not None else end
    lines: list[int] = []
    line, pos = first, start
    for it in item.finditer(data, m.start(), seq_end):
        after = it.end()
        rest = data[after : data.find(b"\n", after, seq_end) if data.find(b"\n", after, seq_end) >= 0 else seq_end]
        if not rest.strip() or rest.lstrip().startswith(b"#"):
            return None  # the item's content starts on a later line
        line += data.count(b"\n", pos, it.start())
        pos = it.start()
        lines.append(line)
    return lines if len(lines) == count else None
