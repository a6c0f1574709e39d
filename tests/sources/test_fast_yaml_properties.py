"""The fast YAML path equals the exact one on generated YAML: scalars in every style, anchors and aliases,
merge keys, comments, Lists, multi-document streams, BOMs and CRLF line ends, and broken text too."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.fast_yaml_compare import documents_both, loads_both

SETTINGS = settings(
    max_examples=int(os.environ.get("KUBEHIPAA_FAST_YAML_EXAMPLES", "400")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Scalars go-yaml types (or refuses) in ways JSON emission does not show, and ordinary Kubernetes values.
TOKENS = [
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N", "yEs",
    "true", "True", "TRUE", "false", "False", "FALSE", "tRUE", "null", "Null", "NULL", "nULL", "~", "",
    "0", "-0", "+0", "00", "017", "08", "09", "0o17", "0O17", "0x1F", "0X1f", "0b101", "-0b1", "1_000", "1__0",
    "_1", "+1", "+12", "-12", "1e3", "1E3", "1e+3", "1.5e3", "1.e3", "0e0", "1.0", "1.", "0.", "-0.0", ".5",
    "-.5", "+.5", "5.", "1.50", "0.1", "3.14159265358979", "1e400", "1e-400", "12345678901234567",
    "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
    "123456789012345678901234567890", "-9223372036854775809", ".inf", "-.inf", "+.inf", ".Inf", ".INF",
    ".nan", ".NaN", ".NAN", "inf", "-inf", "nan", "NaN", "Infinity", "infinity", "12:30", "1:20:30",
    "190:20:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2002-12-14 21:59:43.10 -5", "<<", "=",
    "-", "--", "---", "...", "?", ":", "-1:2", "a:b", "a: b", "a #b", "a#b", "#", "100m", "128Mi", "0.5",
    "v1", "apps/v1", "10.0.0.0/8", "sha256:0e1", "*", "&", "!", "!!str", "%", "@", "`", "|", ">", "'", '"',
    "\\", "\\/", "a\\nb", "é", "\u2028", "\x85", "\ufeff", "\t", "a\tb", "x y", " x", "x ", "[]", "{}",
    "[a, b]", "{a: 1}", "a,b", "k: v", "- x", "key:", "1: 2",
]
TEXT = st.text(alphabet=st.sampled_from(list("ab01 .-+_:#,[]{}&*!|>'\"\\%@?~yYnNeExXoO\t\ré")), max_size=8)
# What most manifests hold: names, numbers, quantities, booleans, text; none of it needs the exact path.
COMMON = [
    "nginx", "app-1", "v1", "apps/v1", "registry.example.org/a@sha256:0e1f", "100m", "128Mi", "0.5", "1.5",
    "-3", "0", "8080", "true", "false", "null", "RuntimeDefault", "10.0.0.0/8", "a b c", "x.y/z", "ALL",
    "2001-12-14", "12:30", "/bin/sh", "é ü 中", "😀", "a=b", "k8s.io/x", "1.25", "3.0.1", "1e", "1_a",
]
COMMON_TEXT = st.sampled_from(COMMON) | st.text(alphabet=st.sampled_from(list("abcXYZ019 ._-/=é")), max_size=10)
SCALAR_TEXT = st.sampled_from(TOKENS) | TEXT | COMMON_TEXT


def _double(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif not (c.isprintable() or c == " ") or c in "\t\r\x85\u2028\u2029\ufeff":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


@st.composite
def scalar(draw: st.DrawFn, indent: int, risky: bool = True) -> str:
    """One scalar, written in one of YAML's styles; may well be invalid YAML (both paths must agree then)."""
    text = draw(SCALAR_TEXT if risky else COMMON_TEXT)
    styles = ["plain", "plain", "plain", "single", "double", "block"]
    style = draw(st.sampled_from([*styles, "tagged", "anchor"] if risky else styles))
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    if style == "double":
        return _double(text)
    if style == "block":
        headers = ["|", "|-", "|+", ">", ">-", ">+"]
        header = draw(st.sampled_from([*headers, "|2", "| # c-1", ">+ # x"] if risky else headers))
        pad = " " * (indent + 2)
        lines = [text, draw(TEXT if risky else COMMON_TEXT), ""][: draw(st.integers(1, 3))]
        return header + "\n" + "\n".join(pad + line if line else "" for line in lines)
    if style == "tagged":
        return draw(st.sampled_from(["!!str ", "!!int ", "!!float ", "!!bool ", "!!null ", "! ", "!foo "])) + text
    if style == "anchor":
        return "&a " + text
    return text


KEYS = st.sampled_from(["a", "b", "kind", "name", "on", "yes", "1", "1.0", "0x1", "null", "~", "true", "<<",
                        '"q"', "'s'", "? c", "x y", "a:b", ""]) | TEXT
COMMON_KEYS = st.sampled_from(["a", "b", "c", "d", "name", "image", "x-y", "app.kubernetes.io/name", '"q"', "'s'",
                               "80", "true", '"yes"', "'on'", "é", "metadata", "spec"])


@st.composite
def node(draw: st.DrawFn, indent: int, depth: int, risky: bool) -> str:
    """A value: a scalar, a flow collection, an alias, or (after a line break) a block mapping/sequence."""
    kinds = ["scalar", "scalar", "scalar", "flow", "map", "seq"] if depth < 3 else ["scalar", "flow"]
    kind = draw(st.sampled_from([*kinds, "alias"] if risky else kinds))
    if kind == "scalar":
        return " " + draw(scalar(indent, risky))
    if kind == "alias":
        return " *a"
    if kind == "flow":
        texts = SCALAR_TEXT if risky else COMMON_TEXT
        items = draw(st.lists(texts.filter(lambda s: "\n" not in s and s.strip() == s and s), max_size=3))
        if draw(st.booleans()):
            return " [" + ", ".join(items) + "]"
        return " {" + ", ".join(f"{k}: {v}" for k, v in zip(items, reversed(items), strict=True)) + "}"
    return "\n" + draw(block(indent + 2, depth + 1, kind, risky))


@st.composite
def block(draw: st.DrawFn, indent: int, depth: int, kind: str, risky: bool) -> str:
    pad = " " * indent
    lines = []
    keys = draw(st.lists(KEYS if risky else COMMON_KEYS, min_size=4, max_size=4, unique=not risky))
    for key in keys[: draw(st.integers(1, 4))]:
        comment = draw(st.sampled_from(["", "", "", "  # note", " #x", "\n" + pad + "# own line"]))
        if kind == "seq":
            lines.append(f"{pad}-{draw(node(indent, depth, risky))}{comment}")
        elif risky and draw(st.integers(0, 9)) == 0:
            lines.append(f"{pad}<<:{draw(st.sampled_from([' *a', ' {m: 1}', ' [*a]', ' x']))}{comment}")
        else:
            lines.append(f"{pad}{key}:{draw(node(indent, depth, risky))}{comment}")
    return "\n".join(lines)


@st.composite
def document(draw: st.DrawFn, risky: bool) -> str:
    if draw(st.integers(0, 4)) == 0:  # a List, whose items need their own lines
        items = draw(st.lists(block(2, 1, "map", risky), min_size=1, max_size=3))
        body = "".join(f"- apiVersion: v1\n  kind: Pod\n{item}\n" for item in items)
        lead = draw(st.sampled_from(["", "\n", "  # c\n"]))
        return f"apiVersion: v1\nkind: List\nitems:\n{lead}{body}"
    head = "apiVersion: v1\nkind: ConfigMap\n" if draw(st.booleans()) else ""
    return head + draw(block(0, 0, draw(st.sampled_from(["map", "map", "map", "seq"])), risky))


@st.composite
def stream(draw: st.DrawFn, risky: bool = True) -> str:
    docs = draw(st.lists(document(risky), min_size=1, max_size=4))
    seps = ["---\n", "---\n", "--- # c\n", "\n---\n", "---\n---\n"]
    if risky:
        seps += ["...\n---\n", "--- |\n  x\n---\n", "%YAML 1.1\n---\n"]
    text = draw(st.sampled_from(["", "", "---\n", "# c\n---\n"] + (["\ufeff"] if risky else []))) + docs[0]
    for doc in docs[1:]:
        text += ("\n" if not text.endswith("\n") else "") + draw(st.sampled_from(seps)) + doc
    text += draw(st.sampled_from(["\n", "", "\n\n", "\n---\n"] + (["\n...\n"] if risky else [])))
    if risky and draw(st.integers(0, 7)) == 0:
        text = text.replace("\n", "\r\n")
    return text


@SETTINGS
@given(stream(risky=True))
def test_fast_path_equals_exact_path_on_generated_streams(text: str) -> None:
    """Data (byte-exact: 1 is not 1.0), document lines, problems (refusals, syntax errors) and duplicate-key
    warnings are the same; and so are the objects and problem lines files.py makes of them. Streams with
    every feature the fast path hands to the exact one (most of their documents go the exact way)."""
    exact, fast = documents_both(text)
    assert fast == exact
    assert loads_both(text)[1] == loads_both(text)[0]


@SETTINGS
@given(stream(risky=False))
def test_fast_path_equals_exact_path_on_generated_manifest_streams(text: str) -> None:
    """The same on streams shaped like manifests (most documents take the fast path): Lists and their items'
    lines, comments, block scalars with every chomping, flow collections, quoted words and numbers."""
    exact, fast = documents_both(text)
    assert fast == exact
    assert loads_both(text)[1] == loads_both(text)[0]


@SETTINGS
@given(st.lists(st.tuples(KEYS | COMMON_KEYS, scalar(0) | scalar(0, risky=False)), min_size=1, max_size=6))
def test_fast_path_equals_exact_path_on_flat_mappings(pairs: list[tuple[str, str]]) -> None:
    """The scalar rules one at a time, as values and keys: the bulk of what manifests are made of."""
    text = "".join(f"{k}: {v}\n" for k, v in pairs) + "".join(f"- {v}\n" for _, v in pairs[:1])
    for candidate in (text, "".join(f"{k}: {v}\n" for k, v in pairs), "- " + pairs[0][1] + "\n"):
        exact, fast = documents_both(candidate)
        assert fast == exact, candidate
