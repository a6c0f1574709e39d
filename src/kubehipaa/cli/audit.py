"""`kubehipaa audit`: analyze API-server audit logs, build who-did-what timelines, list the detections.

Each command parses its options, calls one pipeline (`kubehipaa.pipelines.audit`) and hands the result to
its report (`reports.audit_alerts`, `reports.timeline`). The webhook receiver (`audit serve`) lives in
cli/audit_serve.py and registers itself on `app`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    TRUST_CONFIG_HELP,
    check_audit_read,
    load_sigma_rules,
    warn,
    write_output,
)

# Returns Config | None: kubehipaa.config (pydantic models) is imported only when a .kubehipaa.yaml is given
# or found (start-up, issue 7); DetectorConfig.from_config(None) gives the defaults, as an empty config does.
from kubehipaa.cli.common import load_config_if_present as load_config
from kubehipaa.engines.auditlog import RULES, DetectorConfig, TimelineFilter, TimeRange, resolve_bound
from kubehipaa.errors import InputError, KubehipaaError
from kubehipaa.model import Severity
from kubehipaa.pipelines import audit as pipeline
from kubehipaa.reports.audit_alerts import AuditAlertsReport, AuditRulesReport
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.timeline import TimelineReport

app = typer.Typer(
    help="Audit-log analysis: detections, timelines (who did what, when, from where), the rule catalog.",
    no_args_is_help=True,
)
rules_app = typer.Typer(help="The built-in audit-log detections.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


class AnalyzeFormat(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"


class TimelineFormat(str, Enum):
    table = "table"
    json = "json"
    html = "html"


class RulesFormat(str, Enum):
    table = "table"
    json = "json"


class FailOn(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"
    never = "never"


def parse_since(text: str | None, now: dt.datetime | None = None, option: str = "--since") -> str | None:
    """`24h`, `30m`, `7d` (before now, whole seconds) or an RFC 3339 time/date → the UTC bound
    'YYYY-MM-DDTHH:MM:SS[.fraction]' that `TimeRange` compares events with as instants.

    Used for `--until` too (`option` names the flag in errors).
    """
    if not text:
        return None
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    try:
        return resolve_bound(text, now, option)
    except ValueError as exc:
        raise KubehipaaError(str(exc)) from None


def time_range(since: str | None, until: str | None) -> TimeRange:
    """The `--since`/`--until` window of a command (an empty window is a usage error, not a clean result)."""
    rng = TimeRange(parse_since(since), parse_since(until, option="--until"))
    if rng.spans_no_time():
        raise KubehipaaError(f"--until {until!r} is not after --since {since!r}: the window holds no time")
    return rng


def check_window(rng: TimeRange) -> None:
    """Exit 2 (one line on stderr) when events were read but none lies in the window: nothing was evaluated.

    Called after the report is written: the report says "0 of N events in the window" (JSON: `window`), so
    neither it nor the exit code can pass for a clean review, while a script still gets the counts."""
    malformed = rng.malformed_warning()  # events whose time could not be placed: counted, never in the window
    if malformed is not None:
        warn(malformed)
    reason = rng.empty_reason()
    if reason is not None:
        raise InputError(reason)


_GAP = re.compile(r"(\d+)\s*([smhd])")
_GAP_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_gap(text: str) -> float:
    """`--incident-gap`: `90s`, `30m`, `1h`, `2d` → seconds (a bare number is seconds)."""
    t = text.strip()
    if t.isdigit():
        return float(t)
    m = _GAP.fullmatch(t)
    if m is None:
        raise KubehipaaError(f"--incident-gap {text!r}: expected a duration like 30m, 1h or 1d")
    return float(int(m.group(1)) * _GAP_UNITS[m.group(2)])


def phi_namespaces(cfg: object | None, extra: list[str] | None) -> list[str]:
    """The PHI namespaces incidents weigh: `phi.namespaces` of the config (by name; a label selector needs the
    cluster's Namespace objects, which an audit log does not carry) and `--phi-namespace`."""
    phi = getattr(cfg, "phi", None)
    return sorted({*(phi.namespaces if phi is not None else ()), *(extra or ())})


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@app.command("analyze")
def analyze(
    paths: list[str] = typer.Argument(..., help="Audit log files (plain, gzip, rotated), directories, or '-'."),
    since: str | None = typer.Option(None, "--since", help="Only events at or after this: 24h, 30m, 7d or RFC 3339."),
    until: str | None = typer.Option(None, "--until", help="Only events before this: 24h, 30m, 7d or RFC 3339."),
    fmt: AnalyzeFormat = typer.Option(AnalyzeFormat.table, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    config: str | None = typer.Option(None, "--config", "-c", help="Path to .kubehipaa.yaml (break-glass ids; "
                                      "default: the one in the current directory)."),
    trust_config: bool = typer.Option(False, "--trust-config", help=TRUST_CONFIG_HELP),
    fail_on: FailOn = typer.Option(FailOn.high, "--fail-on", help="Exit 1 when an alert is at or above this."),
    min_severity: str = typer.Option("low", "--min-severity", help="Report only alerts at or above this."),
    only: list[str] = typer.Option(None, "--rule", help="Run only these rule ids (repeatable)."),
    max_rows: int = typer.Option(20, "--max-rows", min=1, help="Table format: incidents shown (and alerts per "
                                 "incident with --details)."),
    keep: int | None = typer.Option(None, "--keep", min=1, help="Keep only the N riskiest alerts per rule (all "
                                    "are counted; the report says how many were left out; incidents are built "
                                    "from the alerts kept). Default: every alert is kept."),
    sigma: list[Path] = typer.Option(None, "--sigma", help="Also run the Sigma rules (kubernetes/audit) in these "
                                     "files/directories (repeatable)."),
    state: Path | None = typer.Option(None, "--state", help="Keep what first-seen and baseline rules learn in "
                                      "FILE: read before the run (absent: start learning), written after it "
                                      "(atomically). Safe to delete."),
    learning_period: str | None = typer.Option(None, "--learning-period", help="First-seen rules learn for this "
                                               "long of log time before alerting: 1h (default), 30m, 2d, 0."),
    details: bool = typer.Option(False, "--details", help="Table format: list each incident's riskiest alerts "
                                 "under it."),
    phi_namespace: list[str] = typer.Option(None, "--phi-namespace", help="A namespace holding PHI (repeatable; "
                                            "added to phi.namespaces of .kubehipaa.yaml): weighs in incident risk."),
    incident_gap: str = typer.Option("1h", "--incident-gap", help="Quiet time that ends an incident: alerts of "
                                     "one identity (or object) further apart are separate incidents (30m, 1h, 1d)."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help="Processes to use (default: the cores "
                                    "this process may run on); the result is the same as with --jobs 1. Stdin "
                                    "and --sigma run in one process."),
) -> None:
    """Run the built-in detections over audit logs; alerts are grouped into incidents ranked by risk.

    Examples:

      kubehipaa audit analyze /var/log/kubernetes/audit*.log* --since 24h

      kubehipaa audit analyze audit.log --format sarif -o audit.sarif

      kubehipaa audit analyze audit.log --sigma ./sigma-rules/

      zcat audit.log.1.gz | kubehipaa audit analyze - --format json

      kubehipaa audit analyze audit.log --state .kubehipaa-audit.state   # daily: keeps learning

    Exit codes: 0 no alert at or above --fail-on; 1 there is one; 2 usage or input error, or no event read
    (or none in the --since/--until window): nothing was evaluated.
    """
    try:
        floor = Severity.parse(min_severity)
    except ValueError as exc:
        raise KubehipaaError(f"--min-severity: {exc}") from None
    try:
        rules = pipeline.select_rules(floor, only)
    except pipeline.UnknownRules as exc:
        raise KubehipaaError(f"--rule: unknown rule id(s) {exc} (see `kubehipaa audit rules list`)") from None
    ignored_configs: list[str] = []
    cfg = load_config(config, paths, trust=trust_config, ignored=ignored_configs)
    sigma_rules = load_sigma_rules(sigma) if sigma else None
    gap = parse_gap(incident_gap)
    detector_config = with_learning_period(DetectorConfig.from_config(cfg), learning_period)
    result = pipeline.analyze(paths, rules=rules, config=detector_config, sigma=sigma_rules,
                              keep=keep, window=time_range(since, until), warnings=ignored_configs, state=state,
                              phi_namespaces=phi_namespaces(cfg, phi_namespace), incident_gap=gap,
                              jobs=jobs if jobs is not None else pipeline.default_jobs())
    check_audit_read(result.inputs, paths)
    if result.state is not None:
        say_state(result.state, detector_config)
    options = RenderOptions(max_rows=max_rows, generated_at=_now())
    write_output(AuditAlertsReport(details=details).render(result, fmt.value, options), output)
    check_window(result.window)  # after the report, which carries "0 of N events in the window": still exit 2
    worst = result.max_severity()
    if fail_on != FailOn.never and worst is not None and worst >= Severity.parse(fail_on.value):
        raise typer.Exit(EXIT_FINDINGS)
    raise typer.Exit(EXIT_OK)


@app.command("timeline")
def timeline(
    paths: list[str] = typer.Argument(..., help="Audit log files (plain, gzip, rotated), directories, or '-'."),
    user: str | None = typer.Option(None, "--user", help="Only this user (glob; also matches impersonation)."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only this namespace."),
    resource: str | None = typer.Option(None, "--resource", help="Only this resource, e.g. secrets, pods/exec."),
    verb: str | None = typer.Option(None, "--verb", help="Only this verb."),
    since: str | None = typer.Option(None, "--since", help="Only events at or after this: 24h, 30m, 7d or RFC 3339."),
    until: str | None = typer.Option(None, "--until", help="Only events before this: 24h, 30m, 7d or RFC 3339."),
    fmt: TimelineFormat = typer.Option(TimelineFormat.table, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    limit: int = typer.Option(10_000, "--limit", min=1, help="At most this many requests in the report."),
    config: str | None = typer.Option(None, "--config", "-c", help="Path to .kubehipaa.yaml (break-glass ids; "
                                      "default: the one in the current directory)."),
    trust_config: bool = typer.Option(False, "--trust-config", help=TRUST_CONFIG_HELP),
    phi_namespace: list[str] = typer.Option(None, "--phi-namespace", help="As for `audit analyze` (incident "
                                            "ids match its report when given the same)."),
    incident_gap: str = typer.Option("1h", "--incident-gap", help="As for `audit analyze`."),
) -> None:
    """Who did what, when, from where: requests in time order with verb, object, outcome, source IP and
    user agent, the detections each request raised and the incidents (ids of `audit analyze`) they are in.

    Examples:

      kubehipaa audit timeline --user jane@hospital.org audit.log

      kubehipaa audit timeline --namespace clinical --resource secrets audit.log --format html -o secrets.html
    """
    bounds = time_range(since, until)
    flt = TimelineFilter(user=user, namespace=namespace, resource=resource, verb=verb, since=bounds.since,
                         until=bounds.until)
    cfg = load_config(config, paths, trust=trust_config)
    gap = parse_gap(incident_gap)
    result = pipeline.build_timeline(paths, flt, limit=limit, config=DetectorConfig.from_config(cfg),
                                     phi_namespaces=phi_namespaces(cfg, phi_namespace), incident_gap=gap)
    check_audit_read(result.inputs, paths)
    write_output(TimelineReport().render(result, fmt.value, RenderOptions(generated_at=_now())), output)
    check_window(result.timeline.window)  # after the report, which carries "0 of N events in the window": exit 2


@rules_app.command("list")
def rules_list(
    fmt: RulesFormat = typer.Option(RulesFormat.table, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the list to FILE instead of stdout."),
) -> None:
    """List the built-in detections with severity, HIPAA paragraphs and matching logic.

    Example: kubehipaa audit rules list --format json
    """
    write_output(AuditRulesReport().render(list(RULES), fmt.value, RenderOptions()), output)


# -- learning: --learning-period, --state ------------------------------------------------------------------

_PERIOD = re.compile(r"^(\d+)\s*([smhdw]?)$")
_PERIOD_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def with_learning_period(config: DetectorConfig, text: str | None) -> DetectorConfig:
    """`config` with the first-seen warm-up of `--learning-period` (`1h`, `30m`, `2d`, seconds, `0`: none)."""
    if text is None:
        return config
    m = _PERIOD.match(text.strip())
    if not m:
        raise KubehipaaError(f"--learning-period {text!r}: expected a duration like 1h, 30m, 2d or 0")
    seconds = int(m.group(1)) * _PERIOD_UNITS[m.group(2)]
    if seconds > 10 * 365 * 86400:
        raise KubehipaaError(f"--learning-period {text!r}: more than ten years")
    return dataclasses.replace(config, first_seen_learning_s=seconds)


def say_state(use: pipeline.StateUse, config: DetectorConfig) -> None:
    """One stderr line when learning starts from nothing (no file yet) or a rule has nothing learnt in it."""
    if not use.found:
        warn(f"no state file {use.path}: learning from scratch (first-seen and baseline rules warm up for the "
             f"first {config.first_seen_learning_s} s of log time); "
             + ("it was written at the end" if use.written else "nothing was evaluated, so it was not written"))
    elif use.fresh_rules:
        warn(f"state file {use.path} has nothing learnt for {', '.join(use.fresh_rules)}: learning from this run")


from kubehipaa.cli import audit_archive as _audit_archive  # noqa: E402  `audit archive add|verify|prune`

app.add_typer(_audit_archive.app, name="archive")
from kubehipaa.cli import audit_query as _audit_query  # noqa: E402, F401  registers `audit query` on app
