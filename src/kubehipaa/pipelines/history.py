"""Scan history as a pipeline: a scan result → a saved record; saved scans → diff, trend, baseline.

The store (`kubehipaa.history`) only reads and writes rows; what a row means is decided here, once, for the
CLI and any later server: which inputs a scan had and their SHA-256, which exception suppressed which
finding, what is new / fixed / unchanged between two scans, and which findings a baseline leaves counting.
Reports render the dataclasses of this module and never touch the database.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa import __version__
from kubehipaa.config import Config, ExceptionRule
from kubehipaa.errors import KubehipaaError
from kubehipaa.frameworks import load_hipaa
from kubehipaa.history import (
    ExceptionUse,
    FindingRecord,
    HistoryError,
    HistoryLocation,
    HistoryStore,
    InputRecord,
    ScanMeta,
    ScanRecord,
    display_url,
    locate,
)
from kubehipaa.model import FINGERPRINT_VERSION, Finding, K8sObject
from kubehipaa.pipelines.scan import ScanResult, ScanRun
from kubehipaa.redaction import redact_argv
from kubehipaa.reports.common import exception_record, redact_result
from kubehipaa.reports.integrity import canonical_bytes, check, content_digest, sealed
from kubehipaa.reports.json_report import report_dict

__all__ = [
    "Baseline",
    "ExceptionUse",
    "FindingRecord",
    "HistoryError",
    "HistoryStore",
    "InputRecord",
    "Integrity",
    "SavedScan",
    "ScanDiff",
    "ScanMeta",
    "ScanRecord",
    "Trend",
    "apply_baseline",
    "build_record",
    "diff_scans",
    "exception_key",
    "history_location",
    "open_history",
    "save_scan",
    "trend",
    "verify_saved",
]

HASH_CHUNK = 1 << 20


def history_location(cli_url: str | None, config: Config) -> HistoryLocation:
    """Where the history is for this command (flag, environment, config, default)."""
    return locate(cli_url, config.history.url, config.history.path, config.source)


def open_history(cli_url: str | None, config: Config, *, create: bool = True) -> HistoryStore:
    return HistoryStore.open(history_location(cli_url, config), create=create)


# ---- saving -------------------------------------------------------------------------------------------------

def catalog_version() -> str:
    """The catalog's stated version plus the SHA-256 of the catalog file (what was really mapped)."""
    catalog = load_hipaa()
    return f"{catalog.version}; sha256:{catalog.digest}"


def redact_command(argv: Sequence[str]) -> str:
    """The command line as saved: history URLs through `display_url`, the rest through redact_argv."""
    out: list[str] = []
    after_url = False
    for arg in argv:
        if after_url:
            out.append(display_url(arg))
            after_url = False
        elif arg == "--history-url":
            out.append(arg)
            after_url = True
        elif arg.startswith("--history-url="):
            out.append("--history-url=" + display_url(arg.split("=", 1)[1]))
        else:
            out.append(arg)
    return " ".join(redact_argv(out))


def input_records(run: ScanRun) -> list[InputRecord]:
    """Each input of the scan with its SHA-256: `ScanResult.inputs` (every file as it was read, stdin, a
    cluster listing as `cluster:<context>` over its canonical JSON), with the number of objects from each.

    Inputs the loader did not record (control-plane files read by `--control-plane`, a Kustomize build) are
    added from the objects and findings that name them: a regular file's bytes are hashed now, at save
    time; anything else by the canonical JSON of the objects read from it. Never silently left out.
    """
    def source(name: str) -> str:
        return "cluster:" + name.removeprefix("cluster:").split("/", 1)[0] if name.startswith("cluster:") else name

    groups: dict[str, list[K8sObject]] = {}
    for obj in run.loaded.objects:
        groups.setdefault(source(obj.file), []).append(obj)
    out = [InputRecord(_kind(rec.name), rec.name, rec.sha256, rec.bytes, len(groups.get(rec.name, ())))
           for rec in run.result.inputs]
    seen = {rec.name for rec in out}
    extra = [name for name in groups if name not in seen]
    extra += sorted({source(f.resource.file) for f in run.result.findings} - seen - set(groups))
    for name in extra:
        objs = groups.get(name, [])
        hashed = _file_sha256(name) if _kind(name) == "file" else None
        if hashed is None and not objs:
            continue  # a finding about something that is neither a file nor a loaded object (a summary)
        if hashed is None:
            data = canonical_bytes([o.doc for o in objs])
            hashed = (hashlib.sha256(data).hexdigest(), len(data))
        out.append(InputRecord(_kind(name), name, hashed[0], hashed[1], len(objs)))
    return out


def _kind(name: str) -> str:
    if name.startswith("cluster:"):
        return "cluster"
    return "stdin" if name in ("<stdin>", "-") else "file"


def _file_sha256(name: str) -> tuple[str, int] | None:
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        h, size = hashlib.sha256(), 0
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
            size += len(chunk)
        return h.hexdigest(), size


def exception_key(rule: ExceptionRule) -> str:
    """A stable id for an exception: its content (check, resource, scope, owner, approver, justification,
    expiry). Editing any of them makes a new risk acceptance, with its own history."""
    record = exception_record(rule)
    record["approver"] = rule.approver
    return content_digest(record)[:16]


def _rule_covers(rule: ExceptionRule, finding: Finding) -> bool:
    """The exception (by its suppression record) that suppressed `finding`: same record fields, and its
    resource patterns match (the container is not re-checked: the scan already did, with the objects)."""
    sup = finding.suppression or {}
    if (sup.get("check"), sup.get("owner"), sup.get("expires")) != (
            rule.check, rule.owner, rule.expires.isoformat()):
        return False
    res, want = finding.resource, rule.resource
    pairs = ((want.kind, res.kind), (want.namespace, res.namespace or ""), (want.name, res.name))
    return fnmatch.fnmatchcase(finding.check_id, rule.check) and all(
        p is None or fnmatch.fnmatchcase(v, p) for p, v in pairs)


def exception_uses(result: ScanResult, config: Config, today: dt.date) -> tuple[list[ExceptionUse], list[str | None]]:
    """Per exception of the config: status on `today` and findings matched; per finding, its exception key."""
    rules = list(config.exceptions)
    keys = [exception_key(r) for r in rules]
    matched: Counter[int] = Counter()
    per_finding: list[str | None] = []
    for f in result.findings:
        idx = next((i for i, r in enumerate(rules) if f.suppressed and r.expires >= today and _rule_covers(r, f)),
                   None)
        per_finding.append(keys[idx] if idx is not None else None)
        if idx is not None:
            matched[idx] += 1
    uses = []
    for i, rule in enumerate(rules):
        status = "expired" if rule.expires < today else ("active" if matched[i] else "unused")
        record = exception_record(rule)
        record["approver"] = rule.approver
        uses.append(ExceptionUse(keys[i], i, rule.check, rule.owner, rule.approver, rule.expires.isoformat(),
                                 status, matched[i], record))
    return uses, per_finding


def target_of(inputs: Sequence[InputRecord], paths: Sequence[str] = ()) -> str:
    """What a scan was of, which `--baseline last` matches: the paths given on the command line (a directory
    stays the same target when files are added to it), else the clusters' contexts, else the inputs' names.
    Never the content: that is what changes between two scans of the same target."""
    if paths:
        return "\n".join(sorted({p if p == "-" else os.path.normpath(p) for p in paths}))
    clusters = sorted({r.name for r in inputs if r.kind == "cluster"})
    return "\n".join(clusters or sorted(f"{r.kind}:{r.name}" for r in inputs))


def build_record(run: ScanRun, config: Config, argv: Sequence[str], paths: Sequence[str] = (), *,
                 today: dt.date | None = None, now: dt.datetime | None = None) -> ScanRecord:
    """The scan as it is saved: the full JSON report (with its content digest), inputs, findings, exceptions."""
    result = run.result
    now = now or dt.datetime.now(dt.UTC)
    today = today or dt.date.today()
    # sealed like every report (reports.integrity): `kubehipaa verify --history ID` names what changed
    report = sealed(report_dict(result, config))
    digest = str(report["integrity"]["digest"])
    inputs = input_records(run)
    uses, per_finding = exception_uses(result, config, today)
    findings = [
        FindingRecord(
            row["fingerprint"], row["checkId"], row["severity"], row["resource"].get("apiVersion", ""),
            row["resource"]["kind"], row["resource"].get("namespace"), row["resource"]["name"],
            row["resource"].get("file", ""), int(row["resource"].get("line") or 0), row["safeguard"],
            tuple(row["hipaa"]), bool(row["suppressed"]), key)
        for row, key in zip(report["findings"], per_finding, strict=True)
    ]
    summary = report["summary"]
    return ScanRecord(
        created_at=now.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        target=target_of(inputs, paths), tool_version=__version__, catalog_version=catalog_version(),
        fingerprint_version=FINGERPRINT_VERSION, command=redact_command(argv), config_source=config.source,
        objects=result.objects, findings_active=summary["findings"], suppressed=summary["suppressed"],
        by_severity=dict(summary["bySeverity"]), errors=len(result.errors), skipped=len(result.skipped),
        content_digest=digest, report=report, inputs=inputs, findings=findings, exceptions=uses,
    )


@dataclass(slots=True)
class SavedScan:
    """What `scan --save` did: the new id, where, and the scans retention pruned."""

    id: int
    where: str
    pruned: list[ScanMeta]
    retention_days: int


def save_scan(run: ScanRun, config: Config, argv: Sequence[str], cli_url: str | None = None,
              paths: Sequence[str] = (), *, now: dt.datetime | None = None) -> SavedScan:
    """Record the scan (`paths`: the command's path arguments, its target) and prune by retention."""
    record = build_record(run, config, argv, paths, now=now)
    with open_history(cli_url, config) as store:
        scan_id, pruned = store.save(record, retention_days=config.history.retention_days, now=now)
        return SavedScan(scan_id, store.location.display, pruned, config.history.retention_days)


@dataclass(slots=True)
class Integrity:
    """A saved scan re-checked: its report against the digest sealed with it, its rows against its report."""

    scan_id: int
    stored: str
    recomputed: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_saved(store: HistoryStore, scan_id: int) -> Integrity:
    """Recompute the saved report's content digest (reports.integrity) and compare the finding rows the
    history queries read (diff, baseline, trend) with the findings of the sealed report."""
    meta = store.get(scan_id)
    report = store.report(scan_id)
    recomputed = content_digest(report)
    problems: list[str] = []
    raw_block = report.get("integrity")
    sealed_digest = raw_block.get("digest") if isinstance(raw_block, dict) else None
    if recomputed != meta.content_digest or sealed_digest != meta.content_digest:
        problems.append(f"the saved report's content digest is sha256:{recomputed}, the scan was sealed with "
                        f"sha256:{meta.content_digest}: the report was changed after it was saved")
        problems.extend(check(report).changes)  # which sections and findings, from the sealed block
    in_report = Counter(f.get("fingerprint") for f in report.get("findings", []))
    in_rows = Counter(f.fingerprint for f in store.findings(scan_id))
    if in_report != in_rows:
        added, removed = in_rows - in_report, in_report - in_rows
        problems.append(f"the finding rows differ from the sealed report: {sum(added.values())} not in the "
                        f"report, {sum(removed.values())} missing")
    return Integrity(scan_id, meta.content_digest, recomputed, problems)


# ---- baseline -----------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Baseline:
    """The saved scan a run is compared with, and which of the run's findings are new against it."""

    scan: ScanMeta | None
    new: list[Finding]
    known: int
    fixed: int

    def new_at_or_above(self, threshold: Any) -> list[Finding]:
        return [f for f in self.new if not f.suppressed and f.severity >= threshold]


def apply_baseline(result: ScanResult, store: HistoryStore, ref: str, inputs: Sequence[InputRecord],
                   paths: Sequence[str] = ()) -> Baseline:
    """Compare `result` with saved scan `ref` (`last`: the newest scan of the same inputs) by fingerprint.

    A baseline saved with another fingerprint version cannot be compared (every fingerprint would look new,
    or worse, collide): refused with one line. No saved scan of these inputs: every finding is new.
    """
    base = store.resolve(ref, target_of(inputs, paths) if ref == "last" else None)
    redacted = redact_result(result).findings  # fingerprints as saved (the JSON report's)
    if base is None:
        return Baseline(None, [f for f in result.findings if not f.suppressed], 0, 0)
    if base.fingerprint_version != FINGERPRINT_VERSION:
        raise KubehipaaError(
            f"baseline scan #{base.id} was saved with fingerprint version {base.fingerprint_version}, this "
            f"kubehipaa uses {FINGERPRINT_VERSION}: its findings cannot be compared; save a new scan "
            "(kubehipaa scan ... --save) and use that as the baseline")
    known = store.fingerprints(base.id)
    current = {r.fingerprint for f, r in zip(result.findings, redacted, strict=True) if not f.suppressed}
    new = [f for f, r in zip(result.findings, redacted, strict=True)
           if not f.suppressed and r.fingerprint not in known]
    return Baseline(base, new, len(current & known), len(known - current))


# ---- diff and trend -----------------------------------------------------------------------------------------

@dataclass(slots=True)
class ScanDiff:
    old: ScanMeta
    new: ScanMeta
    added: list[FindingRecord]
    fixed: list[FindingRecord]
    unchanged: list[FindingRecord]
    comparable: bool = True


def diff_scans(store: HistoryStore, old_ref: str, new_ref: str) -> ScanDiff:
    """New / fixed / unchanged findings between two saved scans, by fingerprint (suppressed ones left out:
    they are not findings that count; the register shows what exceptions matched)."""
    old, new = store.resolve(old_ref), store.resolve(new_ref)
    if old is None or new is None:
        raise HistoryError("no saved scan to compare (save one with `kubehipaa scan ... --save`)")
    if old.fingerprint_version != new.fingerprint_version:
        raise HistoryError(
            f"scans #{old.id} and #{new.id} were saved with different fingerprint versions "
            f"({old.fingerprint_version}, {new.fingerprint_version}): their findings cannot be compared")
    before = {f.fingerprint: f for f in store.findings(old.id) if not f.suppressed}
    after = {f.fingerprint: f for f in store.findings(new.id) if not f.suppressed}
    key = _finding_order
    return ScanDiff(
        old, new,
        added=sorted((f for fp, f in after.items() if fp not in before), key=key),
        fixed=sorted((f for fp, f in before.items() if fp not in after), key=key),
        unchanged=sorted((f for fp, f in after.items() if fp in before), key=key),
    )


_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _finding_order(f: FindingRecord) -> tuple[Any, ...]:
    return (_SEVERITY_RANK.get(f.severity, 9), f.check_id, f.namespace or "", f.kind, f.name, f.fingerprint)


@dataclass(slots=True)
class Trend:
    """Unsuppressed findings per HIPAA safeguard (standard) for each saved scan, oldest first."""

    scans: list[ScanMeta]
    safeguards: list[tuple[str, str]]  # (standard id, title), in the regulation's order
    counts: dict[str, list[int]] = field(default_factory=dict)  # standard -> one count per scan


def trend(store: HistoryStore, limit: int | None = None) -> Trend:
    scans = store.scans(limit)
    ids = [m.id for m in scans]
    rows = store.safeguard_counts(ids) if ids else []
    catalog = load_hipaa()
    present = sorted({g for _, g, _ in rows}, key=catalog.order)
    position = {sid: i for i, sid in enumerate(ids)}
    counts = {g: [0] * len(ids) for g in present}
    for sid, guard, n in rows:
        counts[guard][position[sid]] = n
    titles = [(g, (p.name if (p := catalog.get(g)) else "Not mapped to a HIPAA paragraph")) for g in present]
    return Trend(scans, titles, counts)
