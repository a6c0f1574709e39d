"""YAML scalars typed exactly as Kubernetes types them: go-yaml v2's resolver, then JSON.

Kubernetes (kubectl, and the API server for YAML bodies) reads YAML with sigs.k8s.io/yaml: go-yaml v2
decodes each document into Go values (`interface{}`), `YAMLToJSON` makes every mapping key a string,
and `encoding/json` writes the JSON that is stored. So the Python value of a scalar here is what
`json.loads` gives for that JSON, and the key of a mapping is the string Kubernetes makes of it.

This module is a port of the rules, written from go-yaml v2.4.0 `resolve.go`/`decode.go` (vendored as
sigs.k8s.io/yaml/goyaml.v2 in v1.4.0), sigs.k8s.io/yaml `convertToJSONableObject`, and Go's `strconv`
(ParseInt/ParseUint/ParseFloat base-0 rules, FormatFloat) and `time.Parse`. It is pure: no YAML parsing,
no I/O. The differences from PyYAML's YAML 1.1 resolver that matter in real manifests: `=` is a string
(PyYAML: the "value" tag it cannot construct), `y`/`n` are booleans, `1e3` is a number, `12:30` and
`1_0:00` are strings (no sexagesimal), `08`/`09` are 8/9 (octal fails, the float rule takes them),
integral floats are integers (`1.0` is stored as `1`), `.inf`/`.nan` cannot be stored at all (JSON has
no such numbers: Kubernetes rejects the document), and timestamps stay the text they were written as.
The corpus in tests/sources/yaml_corpus, produced by the real Go code, checks every rule here.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import math
import re
import struct
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

TAG_PREFIX = "tag:yaml.org,2002:"
STR = TAG_PREFIX + "str"
INT = TAG_PREFIX + "int"
FLOAT = TAG_PREFIX + "float"
BOOL = TAG_PREFIX + "bool"
NULL = TAG_PREFIX + "null"
TIMESTAMP = TAG_PREFIX + "timestamp"
BINARY = TAG_PREFIX + "binary"
MERGE = TAG_PREFIX + "merge"

_RESOLVABLE = frozenset({"", STR, BOOL, INT, FLOAT, NULL, TIMESTAMP})


class GoDecodeError(ValueError):
    """go-yaml or sigs.k8s.io/yaml refuses the document; the message never quotes the value."""


@dataclass(frozen=True, slots=True)
class GoValue:
    """A decoded scalar as Go holds it: `kind` is the Go type ("string", "int", "uint64", "float64",
    "bool", "nil"); `value` its Python equivalent. Timestamps decoded into interface{} are strings."""

    kind: str
    value: Any

    def json_value(self) -> Any:
        """What `json.loads` makes of `json.Marshal(value)`; GoDecodeError where JSON has no form."""
        if self.kind == "float64":
            return json_float(self.value)
        return self.value

    def json_key(self) -> str:
        """The string `YAMLToJSON` makes of this value as a mapping key; GoDecodeError where it has none."""
        kind, value = self.kind, self.value
        if kind == "string":
            return value  # type: ignore[no-any-return]
        if kind == "int":
            return str(value)
        if kind == "bool":
            return "true" if value else "false"
        if kind == "float64":
            return format_float32_g(value)
        if kind == "nil":
            raise GoDecodeError("a mapping key is null (JSON object keys are strings)")
        raise GoDecodeError(f"a mapping key is an unsigned 64-bit integer ({kind}), which YAMLToJSON does not convert")


# ---- go-yaml v2 resolve.go -------------------------------------------------------------------------

_HINT: dict[str, str] = {"+": "S", "-": "S", ".": "."}
_HINT.update(dict.fromkeys("0123456789", "D"))
_HINT.update(dict.fromkeys("yYnNtTfFoO~", "M"))

_NAN = float("nan")
_INF = float("inf")
_RESOLVE_MAP: dict[str, tuple[str, GoValue]] = {}
for _values, _item in (
    (("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), (BOOL, GoValue("bool", True))),
    (("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), (BOOL, GoValue("bool", False))),
    (("", "~", "null", "Null", "NULL"), (NULL, GoValue("nil", None))),
    ((".nan", ".NaN", ".NAN"), (FLOAT, GoValue("float64", _NAN))),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), (FLOAT, GoValue("float64", _INF))),
    (("-.inf", "-.Inf", "-.INF"), (FLOAT, GoValue("float64", -_INF))),
    (("<<",), (MERGE, GoValue("string", "<<"))),
):
    for _text in _values:
        _RESOLVE_MAP[_text] = _item

# `yamlStyleFloat`; fullmatch, because Go's `$` never matches before a trailing newline.
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# What strconv.ParseFloat accepts for a text starting with "." (readFloat; underscores checked apart).
_DOT_FLOAT = re.compile(r"\.[0-9_]*[0-9][0-9_]*(?:[eE][-+]?[0-9][0-9_]*)?")

_MAX_UINT64 = (1 << 64) - 1


def resolve(tag: str, text: str) -> tuple[str, GoValue]:
    """go-yaml v2 `resolve(tag, in)`: the resolved tag and the Go value; GoDecodeError on a tag misfit.

    `tag` is "" for a plain scalar without a tag, else the explicit tag (long form). A tag go-yaml does
    not resolve (`!Ref`, `!!binary`, `!!map` on a scalar, any custom tag) keeps the text as a string.
    """
    if tag not in _RESOLVABLE:
        return tag, GoValue("string", text)
    rtag, out = _resolve(tag, text)
    if tag in ("", rtag, STR):
        return rtag, out
    if tag == FLOAT and rtag == INT and out.kind == "int":
        return FLOAT, GoValue("float64", float(out.value))
    raise GoDecodeError(f"cannot decode {short_tag(rtag)} as a {short_tag(tag)}")


def resolve_plain(text: str) -> GoValue:
    """The Go value of an untagged plain scalar (timestamps are strings: decoded into interface{})."""
    rtag, out = _resolve("", text)
    if rtag == TIMESTAMP:
        return GoValue("string", text)
    return out


def _resolve(tag: str, text: str) -> tuple[str, GoValue]:
    hint = _HINT.get(text[0], "") if text else "N"
    if hint and tag != STR:
        item = _RESOLVE_MAP.get(text)
        if item is not None:
            return item
        if hint == ".":
            f = _parse_dot_float(text)
            if f is not None:
                return FLOAT, GoValue("float64", f)
        elif hint in "DS":
            # An unquoted timestamp is tried first (only for timestamps: "2001-..." is no number).
            if tag in ("", TIMESTAMP) and parse_timestamp(text):
                return TIMESTAMP, GoValue("string", text)
            plain = text.replace("_", "")
            intv = parse_int(plain, 0)
            if intv is not None:
                return INT, GoValue("int", intv)
            uintv = parse_uint(plain, 0)
            if uintv is not None:
                return INT, GoValue("uint64", uintv)
            if _YAML_STYLE_FLOAT.fullmatch(plain):
                f = float(plain)
                if not math.isinf(f):  # strconv.ParseFloat: out of range is an error
                    return FLOAT, GoValue("float64", f)
            if plain.startswith("0b"):
                intv = parse_int(plain[2:], 2)
                if intv is not None:
                    return INT, GoValue("int", intv)
                uintv = parse_uint(plain[2:], 2)
                if uintv is not None:
                    return INT, GoValue("uint64", uintv)
            elif plain.startswith("-0b"):
                intv = parse_int("-" + plain[3:], 2)
                if intv is not None:
                    return INT, GoValue("int", intv)
    return STR, GoValue("string", text)


def short_tag(tag: str) -> str:
    return "!!" + tag[len(TAG_PREFIX) :] if tag.startswith(TAG_PREFIX) else tag


def decode_binary(text: str) -> str:
    """`!!binary`: base64.StdEncoding (line breaks ignored, padding required), bytes as a Go string."""
    try:
        data = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise GoDecodeError("!!binary value contains invalid base64 data") from None
    return go_string(data)


def _go_utf8_replace(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return "\ufffd", exc.start + 1  # Go's json: one U+FFFD for each byte that starts no valid rune


codecs.register_error("kubehipaa-go-utf8", _go_utf8_replace)


def go_string(data: bytes) -> str:
    """A Go string of arbitrary bytes as encoding/json writes it (invalid UTF-8 bytes become U+FFFD)."""
    return data.decode("utf-8", "kubehipaa-go-utf8")


# ---- Go strconv --------------------------------------------------------------------------------------


def _digit(c: str) -> int:
    o = ord(c)
    if 48 <= o <= 57:
        return o - 48
    o |= 0x20  # strconv's lower(): letters only, anything else stays out of range
    if 97 <= o <= 122 and c.isascii():
        return o - 87
    return 99


def parse_uint(s: str, base: int) -> int | None:
    """strconv.ParseUint(s, base, 64); None on any error. Base 0 reads 0b/0o/0x and a leading-0 octal."""
    if not s:
        return None
    base0 = base == 0
    s0 = s
    if base0:
        base = 10
        if s[0] == "0":
            second = s[1:2].lower()
            if len(s) >= 3 and second == "b":
                base, s = 2, s[2:]
            elif len(s) >= 3 and second == "o":
                base, s = 8, s[2:]
            elif len(s) >= 3 and second == "x":
                base, s = 16, s[2:]
            else:
                base, s = 8, s[1:]
    n = 0
    underscores = False
    for c in s:
        if c == "_" and base0:
            underscores = True
            continue
        d = _digit(c)
        if d >= base:
            return None
        n = n * base + d
        if n > _MAX_UINT64:
            return None
    if underscores and not underscore_ok(s0):
        return None
    return n


def parse_int(s: str, base: int) -> int | None:
    """strconv.ParseInt(s, base, 64); None on any error."""
    if not s:
        return None
    neg = s[0] == "-"
    if s[0] in "+-":
        s = s[1:]
    un = parse_uint(s, base)
    if un is None:
        return None
    if not neg and un >= 1 << 63:
        return None
    if neg and un > 1 << 63:
        return None
    return -un if neg else un


def underscore_ok(s: str) -> bool:
    """strconv.underscoreOK: underscores only between digits (or after a base prefix)."""
    saw = "^"
    i = 0
    if s[:1] in ("-", "+"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        i += 1
        if "0" <= c <= "9" or (hexa and "a" <= c.lower() <= "f"):
            saw = "0"
            continue
        if c == "_":
            if saw != "0":
                return False
            saw = "_"
            continue
        if saw == "_":
            return False
        saw = "!"
    return saw != "_"


def _parse_dot_float(s: str) -> float | None:
    """strconv.ParseFloat(s, 64) for a text that starts with "."; None when Go reports an error."""
    if not _DOT_FLOAT.fullmatch(s):
        return None
    if "_" in s:
        if not underscore_ok(s):
            return None
        s = s.replace("_", "")
    f = float(s)
    return None if math.isinf(f) else f


def json_float(f: float) -> Any:
    """encoding/json's text of a float64, read back: integral values below 1e21 are written without a
    fraction or exponent, so they come back as integers. NaN and infinities have no JSON form."""
    if math.isnan(f) or math.isinf(f):
        raise GoDecodeError(f"{format_float_short(f)} is not a number JSON can hold")
    if f.is_integer() and abs(f) < 1e21:
        # Go writes the shortest digits that round-trip, padded with zeros: 1.2345678901234568e+20 is
        # written 123456789012345680000, which is not int(f) once f is past 2**53.
        return int(f) if abs(f) < 2**53 else int(Decimal(repr(f)))
    return f


def format_float_short(f: float) -> str:
    """How a non-finite float is spelled in messages (YAML's own spelling)."""
    if math.isnan(f):
        return ".nan"
    return ".inf" if f > 0 else "-.inf"


def _f32_bits(f: float) -> int:
    return int(struct.unpack("<I", struct.pack("<f", f))[0])


def _f32_from_bits(bits: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", bits))[0])


def _to_float32(f: float) -> float:
    """Go's float32(f): round to nearest even, infinity past the largest float32."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", f))[0])
    except OverflowError:
        return math.copysign(_INF, f)


def _shortest_float32_digits(v: float) -> tuple[str, int]:
    """Shortest decimal digits (and decimal point position) that read back as the float32 `v` (> 0),
    the closest of them if several: strconv's shortest formatting for bitSize 32."""
    bits = _f32_bits(v)
    exact = Fraction(v)
    below = Fraction(_f32_from_bits(bits - 1))
    above = Fraction(_f32_from_bits(bits + 1)) if bits + 1 < 0x7F800000 else exact + (exact - below)
    lower, upper = (exact + below) / 2, (exact + above) / 2
    inclusive = bits % 2 == 0  # round-half-even: a halfway point reads back as the even mantissa

    def inside(x: Fraction) -> bool:
        return lower <= x <= upper if inclusive else lower < x < upper

    for ndigits in range(1, 10):
        mantissa, exp_text = f"{v:.{ndigits - 1}e}".split("e")
        exp = int(exp_text) - (ndigits - 1)
        units = int(mantissa.replace(".", ""))
        found = [u for u in (units, units - 1, units + 1) if inside(Fraction(u) * Fraction(10) ** exp)]
        if found:
            best = min(found, key=lambda u: abs(Fraction(u) * Fraction(10) ** exp - exact))
            digits = str(best)
            dp = len(digits) + exp
            return digits.rstrip("0") or "0", dp
    raise AssertionError("a float32 always has a 9-digit representation")  # pragma: no cover


def format_float32_g(f: float) -> str:
    """sigs.k8s.io/yaml's key text of a float: strconv.FormatFloat(f, 'g', -1, 32), with Go's
    "+Inf"/"-Inf"/"NaN" renamed to YAML's ".inf"/"-.inf"/".nan"."""
    if math.isnan(f):
        return ".nan"
    v = _to_float32(f)
    if math.isinf(v):
        return ".inf" if v > 0 else "-.inf"
    sign = "-" if math.copysign(1.0, v) < 0 else ""
    v = abs(v)
    if v == 0:
        return sign + "0"
    digits, dp = _shortest_float32_digits(v)
    nd = len(digits)
    exp = dp - 1
    if exp < -4 or exp >= 6:  # %e when shortest: Go uses precision 6 for this decision
        mant = digits[0] + ("." + digits[1:] if nd > 1 else "")
        esign = "-" if exp < 0 else "+"
        return f"{sign}{mant}e{esign}{abs(exp):02d}"
    if dp <= 0:
        return sign + "0." + "0" * (-dp) + digits
    if nd <= dp:
        return sign + digits + "0" * (dp - nd)
    return sign + digits[:dp] + "." + digits[dp:]


# ---- Go time.Parse, for the layouts go-yaml accepts as !!timestamp -----------------------------------

_LAYOUTS = (
    ("year", "-", "month", "-", "day", "T", "hour", ":", "minute", ":", "second", "frac", "zone"),
    ("year", "-", "month", "-", "day", "t", "hour", ":", "minute", ":", "second", "frac", "zone"),
    ("year", "-", "month", "-", "day", " ", "hour", ":", "minute", ":", "second", "frac"),
    ("year", "-", "month", "-", "day"),
)
_FIELDS = frozenset({"year", "month", "day", "hour", "minute", "second", "frac", "zone"})


def _isdigit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _getnum(s: str, fixed: bool) -> tuple[int, str] | None:
    if not _isdigit(s, 0):
        return None
    if not _isdigit(s, 1):
        return None if fixed else (ord(s[0]) - 48, s[1:])
    return (ord(s[0]) - 48) * 10 + ord(s[1]) - 48, s[2:]


def _skip(value: str, literal: str) -> str | None:
    while literal:
        if literal[0] == " ":
            if value and value[0] != " ":
                return None
            literal = literal.lstrip(" ")
            value = value.lstrip(" ")
            continue
        if not value or value[0] != literal[0]:
            return None
        literal, value = literal[1:], value[1:]
    return value


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _parse_layout(layout: tuple[str, ...], value: str) -> bool:
    year = month = day = 0
    for i, chunk in enumerate(layout):
        if chunk not in _FIELDS:
            rest = _skip(value, chunk)
            if rest is None:
                return False
            value = rest
            continue
        if chunk == "year":
            if len(value) < 4 or not _isdigit(value, 0):
                return False
            p, value = value[:4], value[4:]
            if not all("0" <= c <= "9" for c in p[1:]):
                return False  # time.atoi: sign allowed only first, which isDigit already excluded
            year = int(p)
        elif chunk in ("month", "day", "hour", "minute", "second"):
            got = _getnum(value, False)
            if got is None:
                return False
            n, value = got
            limit = {"month": 13, "day": 100, "hour": 24, "minute": 60, "second": 60}[chunk]
            if (chunk == "month" and n == 0) or n >= limit:
                return False
            if chunk == "month":
                month = n
            elif chunk == "day":
                day = n
            elif chunk == "second" and len(value) >= 2 and value[0] in ".," and _isdigit(value, 1):
                if i + 1 < len(layout) and layout[i + 1] == "frac":
                    continue  # the fraction is the next chunk's
                n = 2  # pragma: no cover - every layout with seconds has a fraction chunk
                while _isdigit(value, n):
                    n += 1
                value = value[n:]
        elif chunk == "frac":
            if len(value) < 2 or value[0] not in ".," or not _isdigit(value, 1):
                continue
            n = 1
            while n < 10 and _isdigit(value, n):
                n += 1
            value = value[n:]
        elif chunk == "zone":
            if value[:1] == "Z":
                value = value[1:]
                continue
            if len(value) < 6 or value[3] != ":":
                return False
            sign, hh, mm, value = value[0], value[1:3], value[4:6], value[6:]
            if _getnum(hh, True) is None or _getnum(mm, True) is None or sign not in "+-":
                return False
    if value:
        return False  # extra text
    return 1 <= day <= _days_in(month, year)


def parse_timestamp(s: str) -> bool:
    """go-yaml's parseTimestamp: does `s` read as a timestamp in one of the layouts it allows?"""
    if len(s) < 5 or not all("0" <= c <= "9" for c in s[:4]) or s[4] != "-":
        return False
    return any(_parse_layout(layout, s) for layout in _LAYOUTS)
