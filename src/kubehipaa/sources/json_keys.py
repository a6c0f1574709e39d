"""What orjson does not say about a JSON document: keys written twice, and nesting deeper than we read.

orjson keeps the last value of a duplicate key in silence (so does Go's encoding/json, which `kubectl apply`
uses: the last value is what the cluster gets), and a duplicate can hide `"privileged": true`. Finding
duplicates by tokenizing in Python would cost several times the parse, so the common case is decided by
counts at C speed instead:

- a key is a string followed by `:`; in the text, a `"` that ends a string has an even number of
  backslashes before it (`\\"` inside a string has an odd number), so the keys are
  count('":') - count('\\":') + count('\\\\":') - ... (one `str.count` per backslash run length present);
- orjson writes the parsed data back with no whitespace, so the same count over `orjson.dumps(data)` is
  the number of keys that survived parsing. Equal counts: no duplicates. Different counts (or whitespace
  between a key and its colon, which the text count would miss): the document is tokenized to find them.

`orjson.dumps` doubles as the depth check: it refuses 255 levels of nesting, the cap of the YAML loader too
(`k8s_yaml.MAX_DEPTH`). Measured on a 199 MiB `kubectl get -o json`-style List: orjson.loads 2.95 s CPU, these
checks 1.4 s (0.2 s dumps, 0.9 s counts, 0.35 s whitespace search), against 64 s for the whole load.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from kubehipaa.sources.k8s_yaml import DUPLICATE_KEYS_SHOWN, join_key_path

_GAP = re.compile(r'"[ \t\r\n]+:')
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s"{}\[\],:]+')


def key_ends(s: str | bytes, sep: str | bytes | None = None) -> int:
    """How many `sep` (a closing quote and the colon after it: `":` by default, or `": `; the type of `s`)
    have an even number of backslashes before them, i.e. end a mapping key. Counted with str.count, by inclusion-exclusion on the
    number of backslashes before `sep` (also `sources.fast_yaml`'s duplicate-key test)."""
    text = isinstance(s, str)
    pattern: Any = sep if sep is not None else '":' if text else b'":'
    backslash: Any = "\\" if text else b"\\"
    total, sign = 0, 1
    while True:
        n = s.count(pattern)
        if not n:
            return total
        total += sign * n
        sign = -sign
        pattern = backslash + pattern


def inspect(text: str, data: Any) -> tuple[bool, list[tuple[int, str]]]:
    """(too deep, duplicate-key warnings as (line, message)) for `data`, parsed by orjson from `text`."""
    try:
        dumped = orjson.dumps(data)
    except orjson.JSONEncodeError as exc:
        return "ecursion" in str(exc), []
    if _GAP.search(text) is None and key_ends(text) == key_ends(dumped):
        return False, []
    return False, duplicate_keys(text)


def duplicate_keys(text: str) -> list[tuple[int, str]]:
    """(line, message) for each key written twice in one object of the JSON `text` (valid JSON: orjson read
    it), the key path named, never a value; at most `DUPLICATE_KEYS_SHOWN`, then one count."""
    found: list[tuple[int, str, int]] = []  # (position, path, position of the earlier one)
    # each open container: [is_object, keys seen (name -> position), current key or index, path so far]
    stack: list[list[Any]] = []
    expect_key = False
    for m in _TOKEN.finditer(text):
        tok = m.group()
        c = tok[0]
        if c == "{" or c == "[":
            path = _child_path(stack)
            stack.append([c == "{", {}, None if c == "{" else 0, path])
            expect_key = c == "{"
        elif c == "}" or c == "]":
            stack.pop()
            expect_key = False
        elif c == ",":
            top = stack[-1]
            if top[0]:
                expect_key = True
            else:
                top[2] += 1
        elif c == ":":
            expect_key = False
        elif expect_key and c == '"':
            top = stack[-1]
            key = orjson.loads(tok)
            earlier = top[1].get(key)
            if earlier is not None:
                found.append((m.start(), join_key_path(top[3], key), earlier))
            top[1][key] = m.start()
            top[2] = key
            expect_key = False
    out = [(_line_at(text, pos), f"duplicate key {path} (also at line {_line_at(text, first)}): the last value is "
                                  "read, as `kubectl apply -f` does; the earlier one is ignored")
           for pos, path, first in found[:DUPLICATE_KEYS_SHOWN]]
    if len(found) > DUPLICATE_KEYS_SHOWN:
        out.append((_line_at(text, found[DUPLICATE_KEYS_SHOWN][0]),
                    f"... and {len(found) - DUPLICATE_KEYS_SHOWN} more duplicate key(s) in this document"))
    return out


def _child_path(stack: list[list[Any]]) -> str:
    """The path of a container that starts now, inside the innermost open one."""
    if not stack:
        return ""
    is_object, _, at, path = stack[-1]
    return join_key_path(path, at) if is_object else f"{path}[{at}]"


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1
