"""Properties of the Kubernetes YAML reading that hold for any text, beyond the corpus' examples."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubehipaa.sources import go_scalars, k8s_yaml

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _printable(c: str) -> bool:
    """YAML's c-printable: what may stand unescaped in a double-quoted scalar."""
    o = ord(c)
    return (
        c in "\t\n\r"
        or 0x20 <= o <= 0x7E
        or o == 0x85
        or 0xA0 <= o <= 0xD7FF
        or 0xE000 <= o <= 0xFFFD
        or o >= 0x10000
    )


def _double_quoted(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c in "\r\t\x85\u2028\u2029" or not _printable(c):
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _single(doc: str) -> dict:
    docs = list(k8s_yaml.iter_documents(doc))
    assert len(docs) == 1 and docs[0].error is None, docs
    return docs[0].data  # type: ignore[no-any-return]


@SETTINGS
@given(st.text(max_size=40))
def test_double_quoted_strings_stay_the_string_written(s: str) -> None:
    """Quoting is how a manifest says "this is text": `"yes"`, `"012"`, `"1e3"` stay strings, as keys too."""
    quoted = _double_quoted(s)
    assert _single(f"k: {quoted}\n") == {"k": s}
    assert _single(f"{quoted}: v\n") == {s: "v"}
    assert _single(f"- {quoted}\n") == [s]


@SETTINGS
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40))
def test_single_quoted_and_block_strings_stay_strings(s: str) -> None:
    s = s.replace("\x85", "").replace("\ufeff", "")
    if not all(_printable(c) for c in s):
        return
    quoted = "'" + s.replace("'", "''") + "'"
    assert _single(f"k: {quoted}\n") == {"k": s}
    if s.strip() == s and s:  # a block scalar's content starts at its first non-space character
        assert _single(f"k: |-\n  {s}\n") == {"k": s}


@SETTINGS
@given(st.text(alphabet="0123456789+-._xXoObBeE:yYnN~", max_size=12) | st.text(max_size=12))
def test_plain_scalar_resolution_is_total_and_json_shaped(text: str) -> None:
    """Every plain text resolves (no exception), to a value JSON holds or a documented refusal."""
    gv = go_scalars.resolve_plain(text)
    assert gv.kind in {"string", "int", "uint64", "float64", "bool", "nil"}
    try:
        value = gv.json_value()
    except go_scalars.GoDecodeError:
        assert gv.kind == "float64" and (math.isnan(gv.value) or math.isinf(gv.value))
        return
    if isinstance(value, float):
        assert math.isfinite(value) and not (value.is_integer() and abs(value) < 1e21)
    if gv.kind == "string":
        assert value == text


@SETTINGS
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_keys_are_go_float32_text(f: float) -> None:
    """A float key is written as Go writes a float32 (`FormatFloat(f, 'g', -1, 32)`): reading the text
    back as a float32 gives the same float32."""
    import struct

    key = go_scalars.format_float32_g(f)
    if math.isnan(f):
        assert key == ".nan"
        return
    try:
        f32 = struct.unpack("<f", struct.pack("<f", f))[0]
    except OverflowError:
        f32 = math.copysign(math.inf, f)
    if math.isinf(f32):
        assert key == (".inf" if f32 > 0 else "-.inf")
        return
    assert struct.unpack("<f", struct.pack("<f", float(key)))[0] == f32
