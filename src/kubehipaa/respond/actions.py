"""`actions.jsonl`: the append-only, hash-chained record of every respond action in an evidence folder.

Each line is one JSON object: `seq`, `time` (UTC, ISO 8601), `action`, `target`, `namespace`, who
(`localUser`, `kubeUser`, `context`), `request` (method, path, content type and the exact body sent; null
for an action that found nothing to do), `answer` (status code and the object's identity/version or the
Status reason; never a whole body), `dryRun`, `note`, then `prev` (the previous line's `hash`, 64 zeros for
the first) and `hash` = SHA-256 over the line's canonical JSON without `hash` (sorted keys, no spaces).
Editing, removing or reordering any line breaks the chain at that line, which `verify` names.

Appends take an exclusive lock on the file, so two responders acting at once still make one chain, and
each line is fsynced before the action is reported done: what the record says was sent, was sent.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kubehipaa.errors import InputError
from kubehipaa.respond.api import ApiAnswer, ApiRequest, Identity

ACTIONS_FILE = "actions.jsonl"
GENESIS = "0" * 64


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a record's hash covers: sorted keys, compact, without the `hash` field itself."""
    return orjson.dumps({k: v for k, v in record.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS)


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where the chain is broken: 1-based line number and why."""

    line: int
    reason: str


class ActionLog:
    """The action log of one evidence folder (created on first append)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / ACTIONS_FILE

    def records(self) -> list[dict[str, Any]]:
        """Every record, in order; a line that is not a JSON object is an InputError naming file:line."""
        return list(self._read())

    def _read(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise InputError("action log line is not JSON", file=str(self.path), line=number) from None
                if not isinstance(record, dict):
                    raise InputError("action log line is not a JSON object", file=str(self.path), line=number)
                yield record

    def verify(self) -> ChainBreak | None:
        """None when every line's hash is right and links to the previous one; else the first break."""
        prev = GENESIS
        expected_seq = 1
        try:
            for number, record in enumerate(self._read(), 1):
                if record.get("prev") != prev:
                    return ChainBreak(number, "does not link to the previous line (a line was removed, "
                                              "inserted or reordered)")
                if record.get("hash") != record_hash(record):
                    return ChainBreak(number, "content does not match its hash (the line was edited)")
                if record.get("seq") != expected_seq:
                    return ChainBreak(number, f"sequence number {record.get('seq')!r}, expected {expected_seq}")
                prev = str(record["hash"])
                expected_seq += 1
        except InputError as exc:
            return ChainBreak(exc.line or 0, exc.message)
        return None

    def append(self, *, action: str, target: str, namespace: str | None, identity: Identity,
               request: ApiRequest | None, answer: ApiAnswer | None, dry_run: bool = False,
               note: str = "", extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append one record under an exclusive lock, chained to the last line, fsynced; return it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = self._last(fd)
            record: dict[str, Any] = {
                "seq": int(last.get("seq", 0)) + 1 if last else 1,
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "action": action, "target": target, "namespace": namespace,
                "localUser": identity.local_user, "kubeUser": identity.kube_user, "context": identity.context,
                "request": request.as_record() if request is not None else None,
                "answer": answer.summary() if answer is not None else None,
                "dryRun": dry_run, "note": note,
            }
            if extra:
                record["extra"] = extra
            record["prev"] = str(last["hash"]) if last else GENESIS
            record["hash"] = record_hash(record)
            os.write(fd, orjson.dumps(record) + b"\n")
            os.fsync(fd)
            return record
        finally:
            os.close(fd)  # closing releases the lock

    def _last(self, fd: int) -> dict[str, Any] | None:
        """The last record, read from the end of the file (the log grows for the incident's life)."""
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0:
            return None
        chunk = b""
        pos = size
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            chunk = os.pread(fd, step, pos) + chunk
            lines = chunk.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or pos == 0:
                try:
                    record = orjson.loads(lines[-1])
                except orjson.JSONDecodeError:
                    raise InputError("the last line of the action log is not JSON; refusing to extend a "
                                     "damaged record", file=str(self.path)) from None
                return record if isinstance(record, dict) else None
        return None
