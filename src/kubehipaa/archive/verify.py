"""`archive verify`: prove that nothing in the store was removed, altered, re-ordered or inserted.

What is checked, and the name each problem is reported under (one line each):

- `truncated`: the manifest ends with a partial line (an append interrupted by a crash, or a cut file);
- `reordered`: manifest lines not in sequence order (their chain, read in `seq` order, is checked as well);
- `deleted-entry`: sequence numbers missing (manifest lines removed), at the start or in the middle;
- `inserted-entry`: a manifest line that is not part of the chain (the next line links past it);
- `broken-chain`: a line whose hash is not what the following line recorded (the line was edited), a line
  that is not JSON, or a first line that does not start from the genesis;
- `bad-signature` / `unsigned`: with `--hmac-key` / `--ed25519-pub`, an entry whose signature does not
  verify, or that carries none;
- `deleted-segment`: a segment the manifest lists (and no prune removed) is missing;
- `modified-segment`: a segment's bytes no longer hash to the recorded SHA-256, or its row count differs;
- `moved-segment`: a segment's bytes found at another path than the recorded one (renamed, swapped between
  paths or days): the events are there, in the wrong place for the queries that select by day;
- `inserted-segment`: a Parquet file under `events/` that no manifest entry lists;
- `unfinished-segment`: a listed segment still under its temporary name (a crash between recording and
  publishing it; the next add, prune or serve publishes it);
- `pruned-present`: a segment a prune entry removed is still on disk (an interrupted prune: run it again);
- `invalid-prune`: a prune entry that removes what was not archived, or a day inside its own cutoff.

What it cannot know without a reference from outside the store: that the chain's last lines were not cut
off together with their segments. Signing entries does not change that; comparing the head (`seq` and
hash, printed by `add`, `prune` and `verify`) with a copy kept elsewhere does (`--expect-head`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubehipaa.archive import manifest
from kubehipaa.archive.manifest import GENESIS, PRUNE, SEGMENT, Checker, Line
from kubehipaa.archive.schema import EVENTS_DIR, MANIFEST
from kubehipaa.archive.segments import temp_path
from kubehipaa.errors import InputError


@dataclass(slots=True, frozen=True)
class Problem:
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(slots=True)
class VerifyResult:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entries: int = 0
    segments: int = 0
    """Live segments (listed and not pruned)."""
    events: int = 0
    pruned_segments: int = 0
    prunes: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    signed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, message: str) -> None:
        self.problems.append(Problem(kind, message))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [{"kind": p.kind, "message": p.message} for p in self.problems],
                "warnings": list(self.warnings), "entries": self.entries, "segments": self.segments,
                "events": self.events, "prunes": self.prunes, "prunedSegments": self.pruned_segments,
                "signedEntries": self.signed, "head": {"seq": self.head_seq, "sha256": self.head_hash}}


def _seq(line: Line) -> int | None:
    seq = line.entry.get("seq") if line.entry is not None else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _where(line: Line) -> str:
    seq = _seq(line)
    return f"manifest line {line.number}" + (f" (seq {seq})" if seq is not None else "")


def _check_order(lines: list[Line], out: VerifyResult) -> list[Line]:
    """Report lines out of sequence order; the lines in the order their chain is then checked in."""
    best: Line | None = None
    for line in lines:
        seq = _seq(line)
        if seq is None:
            continue
        if best is not None and seq < (_seq(best) or 0):
            out.add("reordered", f"{_where(line)} comes after {_where(best)}: manifest entries were re-ordered")
        elif best is None or seq > (_seq(best) or 0):
            best = line
    return sorted(lines, key=lambda ln: (_seq(ln) if _seq(ln) is not None else -1, ln.number))


def _check_chain(ordered: list[Line], out: VerifyResult) -> set[int]:
    """Walk the chain in seq order; classify each break (see the module docstring). Returns the numbers of
    the lines found inserted: their entries are not trusted (a forged entry must not vouch for a file)."""
    outside: set[int] = set()
    prev: Line | None = None  # the last line accepted into the chain
    before: Line | None = None  # the one accepted before it
    for i, line in enumerate(ordered):
        if line.entry is None:
            out.add("broken-chain", f"manifest line {line.number} is not a JSON object (edited or corrupted)")
            continue
        seq = _seq(line)
        link = line.entry.get("prev")
        if seq is None or not isinstance(link, str):
            out.add("broken-chain", f"manifest line {line.number} has no seq/prev (edited)")
            continue
        expected = prev.hash if prev is not None else GENESIS
        prev_seq = (_seq(prev) or 0) if prev is not None else 0
        after = ordered[i + 1] if i + 1 < len(ordered) else None
        after_link = after.entry.get("prev") if after is not None and after.entry is not None else None
        if link == expected:
            if seq != prev_seq + 1:
                out.add("broken-chain", f"{_where(line)} follows seq {prev_seq}: its seq was edited")
            before, prev = prev, line
            continue
        if prev is not None and link == (before.hash if before is not None else GENESIS):
            # this line links past `prev`: `prev` is not part of the chain
            out.add("inserted-entry", f"{_where(prev)} is not part of the chain ({_where(line)} links to the "
                    "entry before it): a manifest line was inserted")
            outside.add(prev.number)
            prev = line
            continue
        if after_link is not None and after_link == expected and prev is not None:
            # the next line links to `prev`: this line stands outside the chain
            out.add("inserted-entry", f"{_where(line)} is not part of the chain ({_where(after)} links to "  # type: ignore[arg-type]
                    f"{_where(prev)}): a manifest line was inserted")
            outside.add(line.number)
            continue
        if seq > prev_seq + 1:
            first, last = prev_seq + 1, seq - 1
            gap = f"seq {first}" if first == last else f"seq {first}..{last}"
            out.add("deleted-entry", f"manifest entries {gap} are missing before {_where(line)}: manifest "
                    "lines were deleted")
        elif prev is None:
            out.add("broken-chain", f"{_where(line)} does not start from the genesis hash: the chain's start "
                    "was edited")
        else:
            out.add("broken-chain", f"{_where(prev)} was edited, or {_where(line)} forged: the SHA-256 of the "
                    "first is not the prev recorded by the second")
        before, prev = prev, line
    return outside


def _check_signatures(lines: list[Line], checker: Checker | None, out: VerifyResult) -> None:
    signed = [ln for ln in lines if ln.entry is not None and "sig" in ln.entry]
    out.signed = len(signed)
    if checker is None:
        if signed:
            out.warnings.append(f"{len(signed)} entries are signed; signatures not checked (give --hmac-key or "
                                "--ed25519-pub)")
        return
    for line in lines:
        if line.entry is None:
            continue
        why = checker.check(line.entry)
        if why == "entry is not signed":
            out.add("unsigned", f"{_where(line)} carries no signature")
        elif why is not None:
            out.add("bad-signature", f"{_where(line)}: {why}")


def _safe_rel(path: Any) -> str | None:
    """A recorded path, if it is a plain relative path under events/ (never `..`, never absolute)."""
    if not isinstance(path, str) or not path.startswith(EVENTS_DIR + "/") or "\\" in path:
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    return path


def _hash_file(path: Path) -> str:
    """The file's SHA-256, or `unreadable: <why>` (which matches no recorded hash)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return h.hexdigest()


def _rows(path: Path) -> int | None:
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # any unreadable file is simply "not the recorded segment"
        return None


def _disk_segments(store: Path, out: VerifyResult) -> set[str]:
    found: set[str] = set()
    base = store / EVENTS_DIR
    if not base.is_dir():
        return found
    for root, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            rel = Path(root, name).relative_to(store).as_posix()
            if name.endswith(".parquet") and not name.startswith("."):
                found.add(rel)
            elif name.startswith(".") and name.endswith(".tmp"):
                out.warnings.append(f"{rel}: a segment being written, or left by an interrupted ingest (not "
                                    "read by queries)")
            else:
                out.warnings.append(f"{rel}: not a segment (ignored by verify; query engines may trip on it)")
    return found


def _prunes(lines: list[Line], segs: dict[int, dict[str, Any]], out: VerifyResult) -> dict[int, int]:
    """seq of each pruned segment → seq of the prune entry that removed it; invalid removals reported."""
    pruned: dict[int, int] = {}
    for line in lines:
        e = line.entry
        if e is None or e.get("kind") != PRUNE:
            continue
        out.prunes += 1
        cutoff = e.get("cutoff")
        removed = e.get("removed")
        if not isinstance(cutoff, str) or not isinstance(removed, list):
            out.add("invalid-prune", f"{_where(line)} has no cutoff or removed list")
            continue
        for item in removed:
            raw_seq = item.get("seq") if isinstance(item, dict) else None
            seq = raw_seq if isinstance(raw_seq, int) else -1
            seg = segs.get(seq)
            if seg is None or not isinstance(item, dict):
                out.add("invalid-prune", f"{_where(line)} removes seq {raw_seq}, which is no segment entry")
                continue
            if seq >= (_seq(line) or 0):
                out.add("invalid-prune", f"{_where(line)} removes seq {seq}, recorded after the prune")
                continue
            if item.get("sha256") != seg.get("sha256") or item.get("path") != seg.get("path"):
                out.add("invalid-prune", f"{_where(line)} removes seq {seq} with another path or SHA-256 than "
                        "its segment entry")
                continue
            if not str(seg.get("day", "")) < cutoff:
                out.add("invalid-prune", f"{_where(line)} removes seq {seq} of day {seg.get('day')}, not before "
                        f"its cutoff {cutoff}")
                continue
            if seq in pruned:
                out.add("invalid-prune", f"{_where(line)} removes seq {seq} again (already pruned by seq "
                        f"{pruned[seq]})")
                continue
            pruned[seq] = _seq(line) or 0
    return pruned


def verify(store: Path, checker: Checker | None = None, *, expect_head: str | None = None) -> VerifyResult:
    """Check `store`; raises InputError when it is not an archive at all (nothing to verify)."""
    if not store.is_dir():
        raise InputError("not a directory (no archive here)", file=str(store))
    out = VerifyResult()
    man = manifest.read(store)
    on_disk = _disk_segments(store, out)
    if man is None or (not man.lines and man.truncated is None):
        if on_disk:
            out.add("broken-chain", f"{MANIFEST} is missing or empty but {len(on_disk)} segment file(s) exist: "
                    "the manifest was deleted")
            return out
        raise InputError(f"no {MANIFEST}: not an archive, or an empty one (nothing to verify)", file=str(store))
    lines = man.lines
    out.entries = len(lines)
    if man.truncated is not None:
        out.add("truncated", f"the manifest's last line (line {len(lines) + 1}, {len(man.truncated)} bytes) has "
                "no newline: an interrupted append or a cut file; its entry is not trusted")
    ordered = _check_order(lines, out)
    outside = _check_chain(ordered, out)
    _check_signatures(lines, checker, out)
    if ordered and _seq(ordered[-1]) is not None:
        out.head_seq, out.head_hash = _seq(ordered[-1]) or 0, ordered[-1].hash
    if expect_head is not None and expect_head.lower() not in (out.head_hash, f"{out.head_seq}:{out.head_hash}"):
        out.add("deleted-entry", f"the chain's head is seq {out.head_seq} {out.head_hash}, not the expected "
                f"{expect_head}: entries were cut off the end (or the expected head is not of this store)")

    segs: dict[int, dict[str, Any]] = {}
    seg_lines: dict[int, Line] = {}
    for line in lines:
        e = line.entry
        if e is not None and e.get("kind") == SEGMENT and _seq(line) is not None and line.number not in outside:
            segs.setdefault(_seq(line) or 0, e)
            seg_lines.setdefault(_seq(line) or 0, line)
    pruned = _prunes(lines, segs, out)
    out.pruned_segments = len(pruned)

    live: dict[str, tuple[int, dict[str, Any]]] = {}
    gone: dict[str, int] = {}
    for seq, e in segs.items():
        rel = _safe_rel(e.get("path"))
        if rel is None:
            out.add("broken-chain", f"{_where(seg_lines[seq])} records an unsafe or invalid path")
            continue
        if seq in pruned:
            gone[rel] = seq
        else:
            live[rel] = (seq, e)
    by_hash: dict[str, str] = {}
    missing: list[tuple[int, dict[str, Any]]] = []
    for rel, (seq, e) in sorted(live.items(), key=lambda kv: kv[1][0]):
        out.segments += 1
        count = e.get("count")
        out.events += count if isinstance(count, int) else 0
        path = store / rel
        if rel not in on_disk:
            if temp_path(path).exists():
                out.add("unfinished-segment", f"{rel} (seq {seq}) is listed but still under its temporary name (an "
                        "ingest interrupted after recording it): the next add, prune or serve --archive publishes "
                        "it")
                continue
            missing.append((seq, e))
            continue
        digest = _hash_file(path)
        by_hash[digest] = rel
        if digest.startswith("unreadable"):
            out.add("modified-segment", f"{rel} (seq {seq}) cannot be read ({digest.partition(': ')[2]})")
            continue
        if digest != e.get("sha256"):
            other = next((r for r, (s2, e2) in live.items() if e2.get("sha256") == digest and r != rel), None)
            if other is not None:
                out.add("moved-segment", f"{rel} (seq {seq}) holds the bytes of segment {other} (seq "
                        f"{live[other][0]}): segments were swapped or re-ordered")
            else:
                out.add("modified-segment", f"{rel} (seq {seq}): SHA-256 {digest[:16]}… is not the recorded "
                        f"{str(e.get('sha256'))[:16]}…: the file was modified")
            continue
        rows = _rows(path)
        if rows != count:
            out.add("modified-segment", f"{rel} (seq {seq}): {rows} rows, the manifest records {count}")
    for rel in sorted(on_disk - live.keys()):
        if rel in gone:
            out.add("pruned-present", f"{rel} (seq {gone[rel]}) was pruned by seq {pruned[gone[rel]]} but is still "
                    "on disk: an interrupted prune (run prune again)")
            continue
        digest = _hash_file(store / rel)
        moved = next((m for m in missing if m[1].get("sha256") == digest), None)
        if moved is not None:
            missing.remove(moved)
            seq, e = moved
            out.add("moved-segment", f"{e.get('path')} (seq {seq}) was moved to {rel}")
            continue
        if digest in by_hash:
            out.add("inserted-segment", f"{rel} is a copy of segment {by_hash[digest]}, not in the manifest")
            continue
        out.add("inserted-segment", f"{rel} is not in the manifest: a segment file was inserted (or an ingest "
                "crashed before recording it)")
    for seq, e in missing:
        out.add("deleted-segment", f"{e.get('path')} (seq {seq}, {e.get('count')} events, day {e.get('day')}) "
                "is missing and no prune removed it")
    return out
