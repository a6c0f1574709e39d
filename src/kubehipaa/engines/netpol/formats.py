"""Renderers for connection lists, matching netpol-analyzer's txt/json/csv/md/dot layouts.

Pure string functions so the CLI, tests and other reports share one implementation.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from kubehipaa.engines.netpol.analysis import Connection

FORMATS = ("txt", "json", "csv", "md", "dot")


def to_txt(rows: Sequence[Connection]) -> str:
    return "\n".join(c.line() for c in rows) + ("\n" if rows else "")


def to_json(rows: Sequence[Connection]) -> str:
    return json.dumps([{"src": c.src, "dst": c.dst, "conn": c.conn_str} for c in rows], indent=2) + "\n"


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def to_csv(rows: Sequence[Connection]) -> str:
    lines = ["src,dst,conn"]
    lines += [",".join(_csv_field(v) for v in (c.src, c.dst, c.conn_str)) for c in rows]
    return "\n".join(lines) + "\n"


def to_md(rows: Sequence[Connection]) -> str:
    lines = ["| src | dst | conn |", "|-----|-----|------|"]
    lines += [f"| {c.src} | {c.dst} | {c.conn_str} |" for c in rows]
    return "\n".join(lines) + "\n"


def _dot_id(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def to_dot(rows: Sequence[Connection], peers: Sequence[str] = ()) -> str:
    """Graphviz digraph: one cluster per namespace, External ranges and the ingress controller outside."""
    by_ns: dict[str, set[str]] = defaultdict(set)
    others: set[str] = set()
    for name in [*peers, *(c.src for c in rows), *(c.dst for c in rows)]:
        if "/" in name and not name.endswith("[External]"):
            by_ns[name.split("/", 1)[0]].add(name)
        else:
            others.add(name)
    out = ["digraph {"]
    for ns in sorted(by_ns):
        out.append(f"\tsubgraph {_dot_id(f'cluster_{ns}[namespace]')} {{")
        out.append('\t\tcolor="black"')
        out.append('\t\tfontcolor="black"')
        for name in sorted(by_ns[ns]):
            label = name.split("/", 1)[1]
            out.append(f'\t\t{_dot_id(name)} [label={_dot_id(label)} color="blue" fontcolor="blue"]')
        out.append(f"\t\tlabel={_dot_id(f'{ns}[namespace]')}")
        out.append("\t}")
    for name in sorted(others):
        color = "red2" if name.endswith("[External]") else "blue"
        out.append(f'\t{_dot_id(name)} [label={_dot_id(name)} color="{color}" fontcolor="{color}"]')
    for c in rows:
        weight = "0.5" if c.src.endswith("[External]") or c.src.startswith("{") else "1"
        out.append(
            f"\t{_dot_id(c.src)} -> {_dot_id(c.dst)} [label={_dot_id(c.conn_str)} "
            f'color="gold2" fontcolor="darkgreen" weight={weight}]'
        )
    out.append("}")
    return "\n".join(out) + "\n"


def render(rows: Sequence[Connection], fmt: str, peers: Sequence[str] = ()) -> str:
    if fmt == "txt":
        return to_txt(rows)
    if fmt == "json":
        return to_json(rows)
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "md":
        return to_md(rows)
    if fmt == "dot":
        return to_dot(rows, peers)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
