#!/usr/bin/env python3
"""Write tests/sources/yaml_corpus/cases.json: YAML texts whose Kubernetes reading the Go oracle records.

Every scalar of SCALARS is written in every style where it stays that scalar (plain, single- and
double-quoted, literal and folded block, in flow collections), as a value, a mapping key and a
sequence item, and with explicit tags; DOCUMENTS adds whole-document shapes (anchors, merge keys,
keys, errors). One YAML text per case, so a case Kubernetes refuses does not hide the others.
Run `scripts/k8s_yaml_oracle/regenerate.sh` afterwards (README in the corpus folder).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "sources" / "yaml_corpus" / "cases.json"

SCALARS = [
    # booleans, YAML 1.1 and the spellings that are not
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False",
    "FALSE", "on", "On", "ON", "off", "Off", "OFF", "yEs", "oN", "tRUE", "nO", "ye", "Yess", "onn",
    # null
    "~", "null", "Null", "NULL", "nULL", "nil", "None",
    # YAML 1.1 value/merge indicators and other punctuation
    "=", "==", "=~", "!=", "<<", "<", ">=", "+", "-", ".", "..", "...", "-.", "+.", "_", "%", "@x",
    # integers: decimal, sign, octal-looking, base prefixes, underscores, limits
    "0", "-0", "+0", "00", "000", "1", "-1", "+1", "42", "017", "-017", "+017", "0777", "0778", "08", "09",
    "019", "-08", "007", "0o17", "0O17", "-0o17", "0o8", "0o", "0x1F", "0X1f", "-0x1F", "+0x1f", "0x",
    "0xG", "0x_1F", "0b101", "0B101", "-0b101", "+0b101", "0b102", "0b", "0b-101", "0b+101", "-0b-1",
    "0b_1", "0o_7", "1_000", "1__0", "_1", "1_", "-_1", "1_0_0", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615",
    "18446744073709551616", "+9223372036854775808", "0x7FFFFFFFFFFFFFFF", "0x8000000000000000",
    "0xFFFFFFFFFFFFFFFF", "0x10000000000000000", "0b" + "1" * 64, "-0x8000000000000000",
    "123456789012345678901",
    # floats
    "1.5", "-1.5", "+1.5", ".5", "-.5", "+.5", "1.", "-1.", "1.0", "-1.0", "0.0", "-0.0", "1e3", "1E3",
    "1e+3", "1e-3", "-1e3", "1.5e3", ".5e3", ".5E-3", "1e400", "-1e400", "1e-400", ".1e400", "1_000.5",
    "1.5_0", "._5", ".5_0", "._", ".e3", ".5e", "0.1", "1e21", "1e20", "1e22", "123456789.0",
    "1.7976931348623157e308", "6.02e23", "1e-7", "1e-6", "0.000001", "0x1p3", "1e", "e3", "1e3.5", "3.",
    "0.", "0.0.0", "1.0e", "1.5e3_0", "2.5e-324", "4.9e-324", "9007199254740993.0", "1e15", "1e16",
    # infinities and NaN in every spelling go-yaml knows, and some it does not
    ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "inf",
    "Inf", "-inf", "+inf", "nan", "NaN", "Infinity", ".infinity", ".iNf", ".naN",
    # sexagesimal (YAML 1.1, PyYAML: 750) and clock-like values
    "12:30", "1:30:00", "-12:30", "190:20:30", "12:30.5", "22:22", "1_2:30", "80:80", "0:0",
    # timestamps (plain: the text itself)
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z",
    "2001-12-14T21:59:43", "2001-12-14T21:59:43Z", "2026-13-01", "2001-1-2", "2001-02-29", "2000-02-29",
    "2001-12-14 21:59:43.10", "2001-12-14T21:59:43.1234567891Z", "2001-12-14T24:00:00Z",
    "2001-12-14T21:59:43+25:99", "2001-12-14T21:59:43,5Z", "20011-12-14", "2001-12-14extra",
    # strings that look like numbers or versions
    "1.2.3", "1-2", "1/2", "-1/2", "1:2", "10Gi", "100m", "0.5Gi", "1e3Gi", "v1", "1,000", "100%",
    "192.168.1.1", "0x1F:80", "1 2", "--1", "++1", "+-1", "0o17o", "1e3 ", "  ",
    # ordinary text, unicode, escapes
    "foo", "hello world", "yes please", "on call", "no way", "café", "日本", "a#b", "a: b", "a #b",
    "'quoted'", '"dq"', "tab\there", "line\nbreak", "trailing space ", " leading", "",
    "é", "\u2028", "\x85x",
]

# Explicit tags applied to a selection of scalars (every scalar would be thousands of cases).
TAGS = ["!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!merge", "!!map",
        "!!seq", "!Ref", "!", "!<tag:yaml.org,2002:int>", "!!value", "!!set"]
TAGGED = [
    "123", "0x1F", "017", "08", "1e3", "1.5", "1.0", "12:30", "yes", "y", "on", "true", "~", "null", "",
    "=", "<<", "abc", "2001-12-14", "2001-12-14T21:59:43Z", "2001-02-29", ".inf", ".nan",
    "18446744073709551615", "-1", "aGVsbG8=", "aGk", "/w==", "4pyT", "gA==", "4oI=", "7aCA", "YQ==\n",
]

DOCUMENTS = {
    # anchors and aliases
    "alias/map": "a: &x {p: 1, q: [y, n]}\nb: *x\n",
    "alias/seq": "a: &x [1, two, 3.0]\nb: *x\nc: [*x, *x]\n",
    "alias/scalar-typed": "a: &x yes\nb: *x\nc: &z 0x1F\nd: *z\n",
    "alias/scalar-as-key": "a: &k on\n*k : value\n",
    "alias/string-as-key": "a: &k name\n*k : value\n",
    "alias/redefined": "a: &x 1\nb: *x\nc: &x two\nd: *x\n",
    "alias/redefined-map": "a: &x {k: 1}\nb: &x {k: 2}\nc: *x\n",
    "alias/recursive-seq": "a: &r [1, *r]\n",
    "alias/recursive-map": "a: &r {self: *r}\n",
    "alias/undefined": "a: *nope\n",
    "alias/anchor-on-tagged": "a: &x ! 123\nb: *x\nc: ! &y 456\nd: *y\n",
    "alias/bomb": "a0: &a0 [x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 4)}]\n" for i in range(1, 12)
    ),
    "alias/many-small": "base: &b {k: v}\n" + "".join(f"i{i}: *b\n" for i in range(600)),
    "alias/many-large": "base: &b [" + ", ".join(str(i) for i in range(50)) + "]\n"
    + "".join(f"i{i}: *b\n" for i in range(40)),
    "alias/ratio-fail": "base: &b [" + ", ".join(str(i) for i in range(200)) + "]\n"
    + "".join(f"i{i}: *b\n" for i in range(60)),
    "alias/early-heavy": "big: &b [" + ", ".join("x" for _ in range(300)) + "]\n"
    + "".join(f"r{i}: *b\n" for i in range(5)) + "".join(f"k{i}: v\n" for i in range(400)),
    "alias/seq-heavy-passes": "b: &b [" + ", ".join(["x"] * 199) + "]\nl: [" + ", ".join(["*b"] * 150) + "]\n",
    "alias/seq-heavy-fails": "b: &b [" + ", ".join(["x"] * 199) + "]\nl: [" + ", ".join(["*b"] * 300) + "]\n",
    "alias/fails-midway": "b: &b [" + ", ".join(["x"] * 199) + "]\nl: [" + ", ".join(["*b"] * 300) + "]\n"
    + "".join(f"k{i}: v\n" for i in range(120)),
    "alias/nested": "a: &a [" + ", ".join(["x"] * 10) + "]\nb: &b [" + ", ".join(["*a"] * 10)
    + "]\nc: &c [" + ", ".join(["*b"] * 10) + "]\n",
    "alias/merge-heavy": "b: &b {" + ", ".join(f"k{i}: {i}" for i in range(100)) + "}\n"
    + "".join(f"m{i}: {{<<: *b, z: {i}}}\n" for i in range(30)),
    # merge keys
    "merge/basic": "base: &b {a: 1, b: 2}\nm:\n  <<: *b\n  b: 3\n",
    "merge/before-explicit": "base: &b {a: 1, b: 2}\nm:\n  b: 3\n  <<: *b\n",
    "merge/list": "x: &x {a: 1, b: 1}\ny: &y {b: 2, c: 2}\nm:\n  <<: [*x, *y]\n  c: 3\n",
    "merge/list-order": "x: &x {a: 1}\ny: &y {a: 2}\nm: {<<: [*y, *x]}\n",
    "merge/inline": "m:\n  <<: {a: 1, b: 2}\n  b: 3\n",
    "merge/inline-list": "m:\n  <<: [{a: 1}, {a: 2, b: 2}]\n",
    "merge/nested": "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n",
    "merge/quoted-key": "base: &b {a: 1}\nm: {\"<<\": *b}\n",
    "merge/single-quoted-key": "m: {'<<': x}\n",
    "merge/explicit-tag": "base: &b {a: 1}\nm: {!!merge <<: *b}\n",
    "merge/bang-tag": "base: &b {a: 1}\nm: {! <<: *b}\n",
    "merge/str-tag": "base: &b {a: 1}\nm: {!!str <<: *b}\n",
    "merge/scalar": "m: {<<: 1}\n",
    "merge/null": "m:\n  <<:\n  a: 1\n",
    "merge/alias-to-seq": "s: &s [{a: 1}]\nm: {<<: *s}\n",
    "merge/seq-of-scalar": "m: {<<: [{a: 1}, 2]}\n",
    "merge/seq-of-seq": "m: {<<: [[{a: 1}]]}\n",
    "merge/empty-seq": "m: {<<: [], a: 1}\n",
    "merge/as-value": "a: <<\nb: [<<]\n",
    "merge/twice": "x: &x {a: 1}\ny: &y {a: 2}\nm:\n  <<: *x\n  <<: *y\n",
    "merge/top-level": "base: &b {a: 1}\n<<: *b\nc: 2\n",
    "merge/alias-key": "k: &k <<\nm: {*k : v}\n",
    # keys
    "keys/typed": "on: 1\nyes: 2\n3: three\n0x10: hex\n1.5: f\n1e3: e\n~x: s\n2001-12-14: date\n",
    "keys/null": "~: v\n",
    "keys/null-word": "null: v\n",
    "keys/empty": ": v\n",
    "keys/explicit-empty": "? \n: v\n",
    "keys/uint64": "18446744073709551615: v\n",
    "keys/int64-min": "-9223372036854775808: v\n",
    "keys/seq": "[a, b]: v\n",
    "keys/map": "? {a: 1}\n: v\n",
    "keys/complex-scalar": "? plain complex key\n: value\n",
    "keys/inf": ".inf: a\n-.inf: b\n.nan: c\n",
    "keys/float32": "0.1: a\n3.14159265358979: b\n123456789.0: c\n1e6: d\n1e-5: e\n1e39: f\n1e-50: g\n",
    "keys/binary": "!!binary aGk=: v\n",
    "keys/duplicate": "a: 1\na: 2\n",
    "keys/bool-duplicate": "on: 1\nyes: 2\n",
    "keys/int-tag": "!!int 17: v\n",
    "keys/bang": "! 17: v\n! yes: w\n",
    # collections with tags (go-yaml ignores them)
    "tags/map": "a: !!map {b: 1}\nc: !Thing {d: 2}\n",
    "tags/seq": "a: !!seq [1]\nb: !!set {x, y}\nc: !!omap [{k: v}]\n",
    "tags/str-on-map": "a: !!str {b: 1}\n",
    "tags/python-object": "a: !!python/object:os.system {cmd: x}\n",
    "tags/python-apply": "a: !!python/object/apply:os.system [echo]\n",
    "tags/python-name": "a: !!python/name:os.system\n",
    "tags/custom-handle": "%TAG !e! tag:example.com,2000:\n---\na: !e!foo 1\n",
    "tags/redefined-secondary": "%TAG !! tag:example.com,2000:\n---\na: !!int 1\n",
    "tags/verbatim-str": "a: !<tag:yaml.org,2002:str> 1\n",
    # multi-line scalars
    "scalars/plain-multiline": "a: one\n  two\n\n  three\nb: 1\n  2\n",
    "scalars/literal-keep": "a: |+\n  x\n\nb: 1\n",
    "scalars/folded": "a: >\n  one\n  two\n\n  three\n",
    "scalars/quoted-multiline": "a: \"one\n  two\"\nb: 'x\n\n  y'\n",
    "scalars/escapes": 'a: "\\x41\\u00e9\\U0001F600\\N\\_\\L\\P\\e\\0\\a\\t\\/ \\" end"\n',
    "scalars/long": "a: " + "x" * 5000 + "\n",
    # document level
    "doc/scalar": "just text\n",
    "doc/number": "42\n",
    "doc/empty": "",
    "doc/comment-only": "# nothing\n",
    "doc/explicit-end": "a: 1\n...\n",
    "doc/yaml-1.1": "%YAML 1.1\n---\na: 1\n",
    "doc/flow-json": '{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": 2, "c": 1.0}}\n',
    "doc/deep": "a: " + "[" * 50 + "]" * 50 + "\n",
    "doc/flow-colon": "a: [x:y, 'k': v]\nb: {x:y}\n",
    "doc/tabs": "a:\tb\n",
    "doc/anchor-names": "a: &x-1_y z\nb: *x-1_y\n",
    # where libyaml 0.2.5 (PyYAML) and go-yaml v2 (a port of libyaml 0.1) parse differently
    "syntax/escape-slash": 'a: "x\\/y"\n',
    "syntax/escape-slash-escaped": 'a: "x\\\\/y"\n',
    "syntax/escape-slash-key": '"a\\/b": 1\n',
    "syntax/escape-slash-single": "a: 'x\\/y'\n",
    "syntax/escape-slash-plain": "a: x\\/y\n",
    "syntax/escape-slash-block": "a: |\n  x\\/y\n",
    "syntax/escapes-yaml11": 'a: "\\x41\\u00e9\\U0001F600\\N\\_\\L\\P\\e\\0\\a\\t\\ \\" end"\n',
    "syntax/escape-tab-char": 'a: "x\\\ty"\n',
    "syntax/yaml-1.2": "%YAML 1.2\n---\na: 1\n",
    "syntax/yaml-1.0": "%YAML 1.0\n---\na: 1\n",
    "syntax/yaml-1.2-second": "a: 1\n---\n%YAML 1.2\n---\nb: 2\n",
    "syntax/yaml-1.2-after-end": "a: 1\n...\n%YAML 1.2\n---\nb: 2\n",
    "syntax/question-flow-seq": "a: [?x]\n",
    "syntax/question-flow-map": "a: {?x: 1}\n",
    "syntax/question-inside-flow": "a: [x?y, x? y]\n",
    "syntax/question-key-flow": "a: [? x]\nb: {? y}\n",
    "syntax/question-plain": "a: ?x\nb: x?\n",
    "syntax/colon-flow-seq": "a: [x:y, http://h:80/p, :z]\n",
    "syntax/colon-flow-map": "a: {x:y}\nb: {u: http://h:80/p}\n",
    "syntax/colon-flow-json-key": 'a: {"x":y, "k":[1]}\n',
    "syntax/colon-end-flow": "a: [x:]\n",
    "syntax/tag-flow": "a: [!t,x]\nb: {!t : v}\n",
    "syntax/tag-flow-2": "a: [!foo, bar]\n",
    "syntax/dash-flow": "a: [-x, - , -]\n",
    "syntax/plain-starts": "a: -x\nb: :x\nc: ?-\n",
    "syntax/comment-no-space": "a: x#y\nb: [x#y]\n",
    "syntax/document-end-then-text": "a: 1\n...\nb: 2\n",
    "syntax/separator-with-content": "a: 1\n--- b: 2\n",
    "syntax/separator-with-flow": "--- {a: 1}\n",
    "syntax/separator-block": "--- |\n  text\n",
    "syntax/tab-indent-value": "a:\n\t- x\n",
    "syntax/tab-after-dash": "a:\n  -\tx\n",
    "syntax/long-key": "k" * 1100 + ": v\n",
    "syntax/bom-mid-stream": "a: 1\n---\n\ufeffb: 2\n",
    "syntax/nul-escape": 'a: "\\0"\n',
    "syntax/trailing-tab": "a: b\t\n",
    "syntax/anchor-colon": "a: &x: 1\n",
    # the shapes from the issue
    "real/alertmanagerconfig-enum": (
        "matchType:\n  description: Match operation available with AlertManager >= v0.22.0\n"
        "  enum:\n  - '!='\n  - =\n  - =~\n  - '!~'\n  type: string\n"
    ),
    "real/configmap-mixed": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    when: 2026-01-01\n"
        "data:\n  enabled: on\n  port: 08\n  ratio: 1e3\n  time: 12:30\n  op: =\n"
    ),
}


def _plain_ok(fragment: str, expect: str, path: tuple[int | str, ...]) -> bool:
    """Does `fragment` parse (libyaml) with the scalar at `path` written plain, as exactly `expect`?"""
    try:
        node = yaml.compose(fragment, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return False
    for step in path:
        if node is None:
            return False
        if step == "key":
            if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
                return False
            node = node.value[0][0]
        elif isinstance(node, yaml.MappingNode):
            if len(node.value) != 1:
                return False
            node = node.value[0][1]
        elif isinstance(node, yaml.SequenceNode):
            if len(node.value) != 1:
                return False
            node = node.value[int(step)]
        else:
            return False
    return isinstance(node, yaml.ScalarNode) and node.value == expect


def _double(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _single(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _cases() -> dict[str, str]:
    cases: dict[str, str] = {}

    def add(name: str, text: str) -> None:
        assert name not in cases, name
        cases[name] = text

    for s in SCALARS:
        label = json.dumps(s, ensure_ascii=False)
        if _plain_ok(f"k: {s}\n", s, ("v",)):
            add(f"value/plain/{label}", f"k: {s}\n")
        add(f"value/single/{label}", f"k: {_single(s)}\n")
        add(f"value/double/{label}", f"k: {_double(s)}\n")
        if "\n" not in s and s and not s[0].isspace():
            add(f"value/literal/{label}", f"k: |-\n  {s}\n")
            add(f"value/folded/{label}", f"k: >\n  {s}\n")
        if _plain_ok(f"{{k: {s}}}\n", s, ("v",)):
            add(f"value/flow-map/{label}", f"{{k: {s}}}\n")
        if _plain_ok(f"[{s}]\n", s, ("0",)):
            add(f"item/flow/{label}", f"[{s}]\n")
        if _plain_ok(f"- {s}\n", s, ("0",)):
            add(f"item/block/{label}", f"- {s}\n")
        add(f"item/double/{label}", f"- {_double(s)}\n")
        if _plain_ok(f"{s}: v\n", s, ("key",)):
            add(f"key/plain/{label}", f"{s}: v\n")
        add(f"key/double/{label}", f"{_double(s)}: v\n")
        add(f"key/single/{label}", f"{_single(s)}: v\n")
        if _plain_ok(f"{{{s}: v}}\n", s, ("key",)):
            add(f"key/flow/{label}", f"{{{s}: v}}\n")
    for tag in TAGS:
        for s in TAGGED:
            label = json.dumps(s, ensure_ascii=False)
            if s and "\n" not in s and _plain_ok(f"k: {tag} {s}\n", s, ("v",)):
                add(f"tagged/{tag}/plain/{label}", f"k: {tag} {s}\n")
            add(f"tagged/{tag}/double/{label}", f"k: {tag} {_double(s)}\n")
        add(f"tagged/{tag}/block", f"k: {tag} |\n  aGVs\n  bG8=\n")
    for name, text in DOCUMENTS.items():
        add(f"doc/{name}", text)
    return dict(sorted(cases.items()))


def main() -> None:
    cases = _cases()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
