"""`kubehipaa audit archive add|verify|prune`: the tamper-evident, day-partitioned Parquet archive.

The archive package (pyarrow) is imported inside each command: `audit analyze` registers this group and
must not pay for pyarrow at start-up, and a missing `archive` extra is one clear line, not a traceback.

Exit codes: 0 clean; 1 `verify` found tampering (or `prune` refused a segment that does not match the
manifest); 2 usage or input error (not an archive, unreadable key, malformed log lines or events without a
timestamp: the rest is stored, the exit code says not everything was).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, console, err_console, warn
from kubehipaa.errors import KubehipaaError

app = typer.Typer(
    help="Tamper-evident audit archive: Parquet (zstd) by UTC day, with a hash-chained manifest.",
    no_args_is_help=True,
)

SHOWN = 20
"""Malformed lines / untimed events listed one per line; the rest are counted."""


class VerifyFormat(str, Enum):
    text = "text"
    json = "json"


def require_archive() -> Any:
    """The archive package, or one line saying how to get it."""
    try:
        import pyarrow  # noqa: F401

        import kubehipaa.archive.store as store
    except ImportError:
        raise KubehipaaError("the audit archive needs pyarrow: install kubehipaa[archive] "
                             "(pip install 'kubehipaa[archive]')") from None
    return store


@contextlib.contextmanager
def _disk_errors(store: Path) -> Iterator[None]:
    """A store that cannot be written or read (a file in its place, permissions, a full disk): one line."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or store
        raise KubehipaaError(f"{where}: {exc.strerror or exc}") from None


def signer_from(hmac_key: Path | None, ed25519_key: Path | None) -> Any:
    from kubehipaa.archive import manifest

    if hmac_key is not None and ed25519_key is not None:
        raise KubehipaaError("give --hmac-key or --ed25519-key, not both")
    if hmac_key is not None:
        return manifest.hmac_signer(hmac_key)
    if ed25519_key is not None:
        return manifest.ed25519_signer(ed25519_key)
    return None


def _list(lines: list[str], total: int, what: str) -> None:
    for line in lines[:SHOWN]:
        warn(line)
    if total > SHOWN:
        warn(f"... and {total - SHOWN} more {what}")


@app.command("add")
def add(
    paths: list[str] = typer.Argument(..., help="Audit log files (plain, gzip, rotated, EventList, cloud exports), "
                                      "directories, or '-'."),
    store: Path = typer.Option(..., "--store", "-s", help="The archive directory (created if missing)."),
    keep_phi: bool = typer.Option(False, "--keep-phi", help="Store PHI-shaped values as logged (credentials are "
                                  "still masked, Secret bodies still dropped). Off by default."),
    hmac_key: Path | None = typer.Option(None, "--hmac-key", help="Sign each manifest entry with HMAC-SHA256 "
                                         "(key file, >= 16 bytes)."),
    ed25519_key: Path | None = typer.Option(None, "--ed25519-key", help="Sign each manifest entry with this "
                                            "Ed25519 private key (PEM); verify takes the public key."),
    no_fsync: bool = typer.Option(False, "--no-fsync", hidden=True, help="Tests and benchmarks only."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64, help="Worker processes that parse and redact "
                             "the events (the store is the same as with 1)."),
) -> None:
    """Store audit events as Parquet by UTC day and chain each segment into the manifest.

    Secrets' requestObject/responseObject are never stored; PHI-shaped values and credentials are masked
    (the redaction of every kubehipaa report) unless --keep-phi. A file already archived (same SHA-256) is
    not stored again.

    Examples:

      kubehipaa audit archive add /var/log/kubernetes/audit*.log.gz --store ./audit-archive

      kubehipaa audit archive add audit.log --store ./audit-archive --hmac-key ./archive.key

    Exit codes: 0 stored (or already archived); 2 usage/input error, or malformed lines / events without a
    timestamp (listed as FILE:LINE / FILE: event #N; everything else is stored).
    """
    store_mod = require_archive()
    signer = signer_from(hmac_key, ed25519_key)
    if keep_phi:
        warn("--keep-phi: PHI-shaped values are stored as logged; the archive itself is then PHI (protect and "
             "encrypt it as such)")
    with _disk_errors(store):
        result = store_mod.add_files(store, paths, keep_phi=keep_phi, signer=signer, fsync=not no_fsync, jobs=jobs)
    st = result.stats
    for line in st.skipped:
        warn(line)
    for line in result.duplicates:
        warn(line)
    _list([str(m) for m in st.malformed_samples], st.malformed, "malformed lines")
    _list(result.untimed_samples, result.untimed, "events without a timestamp")
    seq, head = result.head
    files = len({s["source"]["sha256"] for s in result.segments})
    console.print(escape(f"archived {result.stored} events from {files} file(s) in {len(result.segments)} "
                         f"segment(s) into {store}; chain head seq {seq} sha256 {head}"), soft_wrap=True)
    if st.malformed or result.untimed:
        err_console.print(escape(f"error: {st.malformed} malformed line(s) and {result.untimed} event(s) without "
                                 "a timestamp were not archived (listed above); everything else was"),
                          soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    if not result.stored and not result.duplicates:
        where = ", ".join(st.files) or ", ".join(paths)
        err_console.print(escape(f"error: no audit events read from {where}: nothing archived"), soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_OK)


@app.command("verify")
def verify(
    store: Path = typer.Argument(..., help="The archive directory."),
    hmac_key: Path | None = typer.Option(None, "--hmac-key", help="Check every entry's HMAC-SHA256 signature."),
    ed25519_pub: Path | None = typer.Option(None, "--ed25519-pub", help="Check every entry's Ed25519 signature "
                                            "with this public key (PEM)."),
    expect_head: str | None = typer.Option(None, "--expect-head", help="The chain head recorded elsewhere "
                                           "(sha256, or seq:sha256 as printed by add/prune/verify): proves no "
                                           "entry was cut off the end."),
    fmt: VerifyFormat = typer.Option(VerifyFormat.text, "--format", "-f", help="text: one line per problem; "
                                     "json: the whole result."),
) -> None:
    """Prove that nothing in the archive was removed, altered, re-ordered or inserted.

    Recomputes every segment's SHA-256 and row count and walks the hash chain: each deleted, modified,
    moved, re-ordered or inserted segment or manifest entry, a broken chain, a truncated last line and (with
    a key) every bad or missing signature is one line, named (docs/audit-archive.md).

    Example: kubehipaa audit archive verify ./audit-archive --ed25519-pub archive.pub

    Exit codes: 0 everything checks; 1 tampering or damage found (one line per problem); 2 not an archive,
    or an unusable key.
    """
    require_archive()
    from kubehipaa.archive import manifest
    from kubehipaa.archive.verify import verify as run

    if hmac_key is not None and ed25519_pub is not None:
        raise KubehipaaError("give --hmac-key or --ed25519-pub, not both")
    checker = (manifest.hmac_checker(hmac_key) if hmac_key is not None
               else manifest.ed25519_checker(ed25519_pub) if ed25519_pub is not None else None)
    with _disk_errors(store):
        result = run(store, checker, expect_head=expect_head)
    for w in result.warnings:
        warn(w)
    if fmt == VerifyFormat.json:
        console.print_json(json.dumps(result.to_dict()))
    else:
        for p in result.problems:
            console.print(escape(str(p)), soft_wrap=True)
        status = "OK" if result.ok else f"FAILED: {len(result.problems)} problem(s)"
        signed = f", {result.signed} signed entries" + (" (checked)" if checker else " (not checked)") \
            if result.signed else ""
        console.print(escape(f"{status}: {result.entries} manifest entries, {result.segments} segments, "
                             f"{result.events} events, {result.prunes} prune(s) removing {result.pruned_segments} "
                             f"segment(s){signed}; chain head seq {result.head_seq} sha256 {result.head_hash}"),
                      soft_wrap=True)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FINDINGS)


@app.command("prune")
def prune(
    store: Path = typer.Argument(..., help="The archive directory."),
    older_than: str = typer.Option("2190d", "--older-than", help="Retention: remove day partitions whose events "
                                   "are all older than this (2190d = 6y, HIPAA 164.316(b)(2)(i))."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; change nothing."),
    hmac_key: Path | None = typer.Option(None, "--hmac-key", help="Sign the prune entry (HMAC-SHA256)."),
    ed25519_key: Path | None = typer.Option(None, "--ed25519-key", help="Sign the prune entry (Ed25519, PEM)."),
) -> None:
    """Remove day partitions past retention and record the removal in the chain.

    The prune entry lists what was removed (paths, SHA-256s, counts) and the cutoff, so `verify` still
    passes.

    Examples:

      kubehipaa audit archive prune ./audit-archive --older-than 6y --dry-run

      kubehipaa audit archive prune ./audit-archive

    Exit codes: 0 done (or nothing to remove); 1 a segment to remove does not match the manifest (run
    verify); 2 usage or input error.
    """
    require_archive()
    from kubehipaa.archive import prune as pr

    days = pr.parse_age(older_than)
    if days < pr.DEFAULT_RETENTION_DAYS:
        warn(f"--older-than {older_than}: {days} days is shorter than the six years (2190 days) of HIPAA "
             "164.316(b)(2)(i)")
    signer = signer_from(hmac_key, ed25519_key)
    try:
        with _disk_errors(store):
            result = pr.prune(store, days, dry_run=dry_run, signer=signer)
    except pr.ModifiedSegment as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(EXIT_FINDINGS) from None
    verb = "would remove" if dry_run else "removed"
    for r in result.removed:
        console.print(escape(f"{verb} {r['path']} (seq {r['seq']}, {r['count']} events, sha256 {r['sha256']})"),
                      soft_wrap=True)
    for rel in result.cleaned:
        console.print(escape(f"{'would delete' if dry_run else 'deleted'} {rel} (recorded as pruned by an "
                             "interrupted prune)"), soft_wrap=True)
    seq, head = result.head
    recorded = f"; recorded as seq {result.entry_seq}" if result.entry_seq is not None else ""
    console.print(escape(f"{verb} {len(result.removed)} segment(s), {result.events} events, of days before "
                         f"{result.cutoff} (older than {days} days){recorded}; chain head seq {seq} sha256 {head}"),
                  soft_wrap=True)
    raise typer.Exit(EXIT_OK)
