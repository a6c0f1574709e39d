"""NetworkPolicy answers as text: connection lists, exposure, can-reach verdicts and connectivity diffs.

One `Report` per result type of `kubehipaa.engines.netpol` (`Connlist`, `Exposure`, `Verdict`, a diff's
rows), so the CLI and any later consumer (evidence report, webhook) ask for a format the same way.

Two kinds of format:

- netpol-analyzer's (connlist `txt`/`json`/`csv`/`md`/`dot`, diff `txt`/`csv`/`json`): reproduced exactly so
  the two tools' outputs can be diffed (tests/netpol/test_conformance.py compares them with upstream's
  goldens byte for byte); they are lines and upstream layouts, never wrapped to a width;
- ours: `table` (connlist, exposure, diff) goes through `terminal.fit_table` at `RenderOptions.width`, so
  names are never split inside a word; exposure `txt` and can-reach `txt` are our own line formats, whose
  connection lines are connlist lines (grep and diff them like a connlist).

Every name is written through the redaction layer (`redact_text`; JSON through `json_text`): a workload or
label value shaped like an identifier (`123-45-6789`) is masked in every format alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.engines.netpol import (
    Connection,
    Connlist,
    DiffRow,
    Exposure,
    ExternalPeer,
    IngressControllerPeer,
    Peer,
    RuleExposure,
    Side,
    Verdict,
    WorkloadPeer,
    conns_text,
)
from kubehipaa.redaction import redact_text
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.terminal import Column, fit_table, render_text

CONNECTION_COLUMNS = (Column("Source", key=True), Column("Destination", key=True), Column("Connections"))


class _Redacted(dict[str, str]):
    """Peer text -> its redacted form, computed once per distinct peer: a connection list repeats a few
    hundred names over thousands of lines, and this lookup is a plain dict hit."""

    def __missing__(self, text: str) -> str:
        self[text] = out = redact_text(text)
        return out


_NAMES = _Redacted()
_NAMES_MAX = 100_000


def _bound_names() -> None:
    """Called by each `render`: keeps the name cache bounded across many renders in one process."""
    if len(_NAMES) >= _NAMES_MAX:
        _NAMES.clear()


def _name(peer: Peer) -> str:
    return _NAMES[peer.text]


def _line(c: Connection) -> str:
    """netpol-analyzer's connlist line, names redacted."""
    return f"{_NAMES[c.src.text]} => {_NAMES[c.dst.text]} : {c.conn_str}"


def _lines(lines: Sequence[str]) -> str:
    return "\n".join(lines) + ("\n" if lines else "")


def _connection_rows(rows: Sequence[Connection]) -> list[list[str]]:
    return [[_name(c.src), _name(c.dst), c.conn_str] for c in rows]


def _tables(parts: Sequence[RenderableType], options: RenderOptions) -> str:
    return render_text(parts, width=options.width, color=options.color)


def _section(title: str, columns: Sequence[Column], rows: list[list[str]], width: int) -> list[RenderableType]:
    """A titled table, or the title and `(none)`; a blank line after it."""
    if not rows:
        return [Text(title, style="bold"), Text("  (none)"), Text("")]
    return [fit_table(columns, rows, width, title=title), Text("")]


# --- connlist ---------------------------------------------------------------------------------------------


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _dot_id(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def _dot(result: Connlist) -> str:
    """Graphviz digraph: one cluster per namespace, External ranges and the ingress controller outside."""
    rows = result.connections
    by_ns: dict[str, set[WorkloadPeer]] = defaultdict(set)
    others: set[Peer] = set()
    for peer in [*result.peers, *(c.src for c in rows), *(c.dst for c in rows)]:
        if isinstance(peer, WorkloadPeer):
            by_ns[peer.namespace].add(peer)
        else:
            others.add(peer)
    out = ["digraph {"]
    for ns in sorted(by_ns):
        out.append(f"\tsubgraph {_dot_id(redact_text(f'cluster_{ns}[namespace]'))} {{")
        out.append('\t\tcolor="black"')
        out.append('\t\tfontcolor="black"')
        for w in sorted(by_ns[ns], key=lambda p: p.text):
            label = redact_text(f"{w.name}[{w.kind}]")
            out.append(f'\t\t{_dot_id(_name(w))} [label={_dot_id(label)} color="blue" fontcolor="blue"]')
        out.append(f"\t\tlabel={_dot_id(redact_text(f'{ns}[namespace]'))}")
        out.append("\t}")
    for peer in sorted(others, key=lambda p: p.text):
        color = "red2" if isinstance(peer, ExternalPeer) else "blue"
        out.append(f'\t{_dot_id(_name(peer))} [label={_dot_id(_name(peer))} color="{color}" fontcolor="{color}"]')
    for c in rows:
        weight = "0.5" if isinstance(c.src, ExternalPeer | IngressControllerPeer) else "1"
        out.append(
            f"\t{_dot_id(_name(c.src))} -> {_dot_id(_name(c.dst))} [label={_dot_id(c.conn_str)} "
            f'color="gold2" fontcolor="darkgreen" weight={weight}]'
        )
    out.append("}")
    return "\n".join(out) + "\n"


class ConnlistReport:
    """Every allowed connection: netpol-analyzer's `txt` (`src => dst : conns`), `json`, `csv`, `md` and `dot`,
    and our `table`."""

    formats: tuple[str, ...] = ("txt", "json", "csv", "md", "dot", "table")

    def render(self, result: Connlist, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        _bound_names()
        rows = result.connections
        if fmt == "txt":
            return _lines([_line(c) for c in rows])
        if fmt == "json":
            return json_text([{"src": c.src.text, "dst": c.dst.text, "conn": c.conn_str} for c in rows])
        if fmt == "csv":
            lines = ["src,dst,conn"]
            lines += [",".join(_csv_field(v) for v in (_name(c.src), _name(c.dst), c.conn_str)) for c in rows]
            return _lines(lines)
        if fmt == "md":
            lines = ["| src | dst | conn |", "|-----|-----|------|"]
            lines += [f"| {_name(c.src)} | {_name(c.dst)} | {c.conn_str} |" for c in rows]
            return _lines(lines)
        if fmt == "dot":
            return _dot(result)
        title = f"Allowed connections ({len(rows)})"
        return _tables(_section(title, CONNECTION_COLUMNS, _connection_rows(rows), options.width), options)


# --- exposure ---------------------------------------------------------------------------------------------

INBOUND = "Inbound (from outside):"
OUTBOUND = "Outbound (to outside):"
RULES_IN = "Policy rules admitting peers beyond the namespace (also pods and namespaces created later):"
RULES_OUT = "Policy rules letting workloads send beyond the namespace:"
OPEN_IN = "Workloads not isolated for ingress (open to every source):"
OPEN_OUT = "Workloads not isolated for egress (may send anywhere):"
RULE_COLUMNS = (Column("Workload", key=True), Column("Peer"), Column("Ports"), Column("Policy", key=True),
                Column("Rule", key=True))


def _rule_line(r: RuleExposure) -> str:
    arrow = "<=" if r.ingress else "=>"
    return (f"{_name(r.workload)} {arrow} {redact_text(str(r.peer))} : {r.ports} "
            f"({redact_text(r.policy)} {r.rule})")


def _rule_rows(rules: Sequence[RuleExposure]) -> list[list[str]]:
    return [[_name(r.workload), redact_text(str(r.peer)), r.ports, redact_text(r.policy), r.rule] for r in rules]


def _exposure_tree(e: Exposure) -> dict[str, Any]:
    def rows(cs: list[Connection]) -> list[dict[str, str]]:
        return [{"src": c.src.text, "dst": c.dst.text, "conn": c.conn_str} for c in cs]

    def rules(rs: list[RuleExposure]) -> list[dict[str, str]]:
        return [{"workload": r.workload.text, "policy": r.policy, "rule": r.rule, "peer": str(r.peer),
                 "ports": r.ports} for r in rs]

    return {
        "namespaces": e.namespaces,
        "inbound": rows(e.inbound),
        "outbound": rows(e.outbound),
        "notIsolatedIngress": [w.text for w in e.not_isolated_ingress],
        "notIsolatedEgress": [w.text for w in e.not_isolated_egress],
        "ingressRules": rules(e.rules_in),
        "egressRules": rules(e.rules_out),
    }


class ExposureReport:
    """Who can reach workloads of a set of namespaces and where they can send: our `txt` (sections of lines,
    connections as connlist lines), `json`, and `table` (one table per section)."""

    formats: tuple[str, ...] = ("txt", "json", "table")

    def render(self, result: Exposure, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        _bound_names()
        e = result
        heading = f"Exposure of namespace(s): {redact_text(', '.join(e.namespaces)) or '(none)'}"
        if fmt == "json":
            return json_text(_exposure_tree(e))
        if fmt == "txt":
            lines = [heading, "", INBOUND]
            lines += [f"  {_line(c)}" for c in e.inbound] or ["  (none)"]
            lines += ["", OUTBOUND]
            lines += [f"  {_line(c)}" for c in e.outbound] or ["  (none)"]
            lines += ["", RULES_IN]
            lines += [f"  {_rule_line(r)}" for r in e.rules_in] or ["  (none)"]
            lines += ["", RULES_OUT]
            lines += [f"  {_rule_line(r)}" for r in e.rules_out] or ["  (none)"]
            lines += ["", OPEN_IN]
            lines += [f"  {_name(w)}" for w in e.not_isolated_ingress] or ["  (none)"]
            lines += ["", OPEN_OUT]
            lines += [f"  {_name(w)}" for w in e.not_isolated_egress] or ["  (none)"]
            return "\n".join(lines) + "\n"
        width = options.width
        workload = (Column("Workload", key=True),)
        parts: list[RenderableType] = [Text(heading, style="bold"), Text("")]
        parts += _section(INBOUND, CONNECTION_COLUMNS, _connection_rows(e.inbound), width)
        parts += _section(OUTBOUND, CONNECTION_COLUMNS, _connection_rows(e.outbound), width)
        parts += _section(RULES_IN, RULE_COLUMNS, _rule_rows(e.rules_in), width)
        parts += _section(RULES_OUT, RULE_COLUMNS, _rule_rows(e.rules_out), width)
        parts += _section(OPEN_IN, workload, [[_name(w)] for w in e.not_isolated_ingress], width)
        parts += _section(OPEN_OUT, workload, [[_name(w)] for w in e.not_isolated_egress], width)
        return _tables(parts[:-1], options)


# --- can-reach --------------------------------------------------------------------------------------------


def _side_lines(side: Side, protocol: str | None, port: int | None) -> list[str]:
    subject = _name(side.subject)
    if not side.isolated:
        what = "an external address" if side.external else "not isolated"
        return [f"  {side.direction} at {subject}: {what}; allowed by default (no policy selects it)"]
    lines = [f"  {side.direction} at {subject}: isolated by {redact_text(', '.join(side.isolating))}"]
    relevant = side.rules_allowing(protocol, port)
    if relevant:
        for r in relevant:
            lines.append(f"    allowed by {redact_text(r.policy)} {r.rule} ({conns_text(r.conn)})")
    elif side.rules:
        for r in side.rules:
            lines.append(f"    {redact_text(r.policy)} {r.rule} matches the peer but only for {conns_text(r.conn)}")
        lines.append("    no rule allows the requested port: denied")
    else:
        lines.append("    no rule of these policies selects the peer: denied")
    return lines


def _side_tree(s: Side) -> dict[str, Any]:
    return {
        "direction": s.direction,
        "subject": s.subject.text,
        "isolatedBy": s.isolating,
        "rules": [{"policy": r.policy, "rule": r.rule, "conn": conns_text(r.conn)} for r in s.rules],
        "allowed": conns_text(s.allowed),
    }


class VerdictReport:
    """One flow decided (`netpol can-reach`): our `txt` explanation, or `json`."""

    formats: tuple[str, ...] = ("txt", "json")

    def render(self, result: Verdict, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        _bound_names()
        v = result
        if fmt == "json":
            return json_text({
                "src": v.src.peer.text,
                "dst": v.dst.peer.text,
                "protocol": v.protocol,
                "port": v.port,
                "reachable": v.reachable,
                "allowed": conns_text(v.allowed),
                "egress": _side_tree(v.egress),
                "ingress": _side_tree(v.ingress),
            })
        what = f" on {v.port}/{v.protocol}" if v.protocol and v.port else ""
        answer = "yes" if v.reachable else "no"
        lines = [f"{answer}: {_name(v.src.peer)} => {_name(v.dst.peer)}{what}"]
        lines += _side_lines(v.egress, v.protocol, v.port)
        lines += _side_lines(v.ingress, v.protocol, v.port)
        lines.append(f"  allowed between them: {conns_text(v.allowed)}")
        return "\n".join(lines) + "\n"


# --- diff -------------------------------------------------------------------------------------------------

DIFF_COLUMNS = (Column("Change", key=True), Column("Source", key=True), Column("Destination", key=True),
                Column("Before"), Column("After"), Column("Workloads"))


def _diff_line(r: DiffRow) -> str:
    text = (
        f"diff-type: {r.diff_type}, source: {_name(r.src)}, destination: {_name(r.dst)}, "
        f"ref1: {r.ref1}, ref2: {r.ref2}"
    )
    return text + (f", workloads-diff-info: {redact_text(r.info)}" if r.info else "")


class DiffReport:
    """Connections added, removed or changed: netpol-analyzer's `txt` (`Connectivity diff:` lines), `csv` and
    `json`, and our `table`."""

    formats: tuple[str, ...] = ("txt", "json", "csv", "table")

    def render(self, result: Sequence[DiffRow], fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        _bound_names()
        rows = result
        if fmt == "txt":
            return ("Connectivity diff:\n" + _lines([_diff_line(r) for r in rows])) if rows else ""
        if fmt == "json":
            return json_text([
                {"diff-type": r.diff_type, "src": r.src.text, "dst": r.dst.text, "ref1": r.ref1, "ref2": r.ref2,
                 "workloads-diff-info": r.info}
                for r in rows
            ])
        if fmt == "csv":
            lines = ["diff-type,source,destination,ref1,ref2,workloads-diff-info"]
            for r in rows:
                vals = [r.diff_type, _name(r.src), _name(r.dst), r.ref1, r.ref2, redact_text(r.info)]
                lines.append(",".join(f'"{v}"' if "," in v else v for v in vals))
            return _lines(lines)
        table = [[r.diff_type, _name(r.src), _name(r.dst), r.ref1, r.ref2, redact_text(r.info)] for r in rows]
        title = f"Connectivity diff ({len(rows)} change(s))"
        return _tables(_section(title, DIFF_COLUMNS, table, options.width)[:-1], options)


CONNLIST = ConnlistReport()
EXPOSURE = ExposureReport()
VERDICT = VerdictReport()
DIFF = DiffReport()
