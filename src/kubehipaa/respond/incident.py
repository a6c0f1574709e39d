"""Build the incident record of an evidence folder: verify the action log's chain and every bundle's manifest,
and merge actions, Kubernetes events and container state changes into one timeline.

A bundle is sealed twice: by its MANIFEST.sha256 and by the manifest's own hash, recorded in the hash-chained
action log when the bundle was collected. Editing a file and recomputing the manifest therefore still shows:
the manifest no longer matches the record. A bundle the log names that is gone, and a bundle folder the log
does not name, are both stated.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson

from kubehipaa.errors import InputError
from kubehipaa.reports.incident import BundleStatus, IncidentRecord
from kubehipaa.respond.actions import ACTIONS_FILE, ActionLog
from kubehipaa.respond.bundle import MANIFEST, verify_bundle


def _records(path: Path) -> list[dict[str, Any]]:
    """Every line of the action log that is a JSON object (a damaged line is the chain check's to report)."""
    out: list[dict[str, Any]] = []
    if not path.is_file():
        return out
    with path.open("rb") as fh:
        for line in fh:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append(record)
    return out


def _load_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def _bundle_folders(folder: Path) -> list[Path]:
    """`pods/<ns>/<pod>/<stamp>` folders, or any folder under pods/ holding a manifest."""
    pods = folder / "pods"
    found = {p for p in pods.glob("*/*/*") if p.is_dir()} if pods.is_dir() else set()
    found |= {m.parent for m in pods.rglob(MANIFEST)} if pods.is_dir() else set()
    return sorted(found)


def _time_key(text: str) -> tuple[int, str]:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return 0, parsed.astimezone(dt.UTC).isoformat()
    except ValueError:
        return 1, text


def _pod_timeline(pod: dict[str, Any], label: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    meta = pod.get("metadata") or {}
    if meta.get("creationTimestamp"):
        out.append({"time": str(meta["creationTimestamp"]), "source": "pod", "what": f"{label} created"})
    status = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if not isinstance(cs, dict):
                continue
            for which in ("lastState", "state"):
                for state, info in (cs.get(which) or {}).items():
                    if not isinstance(info, dict):
                        continue
                    if info.get("startedAt"):
                        out.append({"time": str(info["startedAt"]), "source": "container",
                                    "what": f"{label} container {cs.get('name')} started"})
                    if info.get("finishedAt"):
                        out.append({"time": str(info["finishedAt"]), "source": "container",
                                    "what": f"{label} container {cs.get('name')} {state} "
                                            f"(exit {info.get('exitCode')}, {info.get('reason') or '-'})"})
    return out


def build_record(folder: Path) -> IncidentRecord:
    """The incident record of `folder`; InputError when it holds no record at all."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such evidence folder")
    log = ActionLog(folder)
    records = _records(folder / ACTIONS_FILE)
    chain = log.verify()
    bundle_dirs = _bundle_folders(folder)
    if not records and not bundle_dirs and chain is None:
        raise InputError(f"{folder}: no {ACTIONS_FILE} and no evidence bundle: nothing to report")
    problems: list[str] = []
    if not (folder / ACTIONS_FILE).exists():
        problems.append(f"{ACTIONS_FILE} is missing: no action of this incident is recorded")
    recorded: dict[str, str] = {}
    for r in records:
        extra = r.get("extra")
        if r.get("action") == "evidence" and isinstance(extra, dict) and extra.get("bundle"):
            recorded[str(extra["bundle"])] = str(extra.get("manifestSha256") or "")
    timeline: list[dict[str, str]] = []
    for r in records:
        code = (r.get("answer") or {}).get("code") if isinstance(r.get("answer"), dict) else None
        request = r.get("request")
        what = f"{r.get('action')} {r.get('target')}"
        if isinstance(request, dict):
            what += f": {request.get('method')} {request.get('path')} → {code}"
        if r.get("note"):
            what += f" ({r.get('note')})"
        timeline.append({"time": str(r.get("time") or ""), "source": f"action by {r.get('localUser')}",
                         "what": what})
    bundles: list[BundleStatus] = []
    seen: set[str] = set()
    for bdir in bundle_dirs:
        rel = bdir.relative_to(folder).as_posix()
        seen.add(rel)
        check = verify_bundle(bdir)
        status = BundleStatus(rel, files=check.files, changed=check.changed, missing=check.missing,
                              added=check.added, problems=list(check.problems),
                              manifest_sha256=check.manifest_sha256)
        if rel not in recorded:
            status.problems.append(f"not recorded in {ACTIONS_FILE}: its origin cannot be confirmed")
        elif check.manifest_sha256 and recorded[rel] and recorded[rel] != check.manifest_sha256:
            status.problems.append(f"{MANIFEST} differs from the one recorded at collection "
                                   f"(recorded sha256 {recorded[rel]}): the manifest was rewritten")
        collection = _load_json(bdir / "collection.json")
        if isinstance(collection, dict):
            status.target = str(collection.get("target") or "")
            status.namespace = str(collection.get("namespace") or "")
            status.collected_at = str(collection.get("collectedAt") or "")
            status.collected_by = f"{collection.get('localUser')} ({collection.get('kubeUser')})"
            status.unreadable = [str(u.get("what")) for u in collection.get("unreadable") or []
                                 if isinstance(u, dict)]
            timeline.append({"time": status.collected_at, "source": "evidence",
                             "what": f"evidence of {status.target} collected into {rel}"})
        label = f"{status.namespace}/{status.target.partition('/')[2]}" if status.target else rel
        events = _load_json(bdir / "events.json")
        for e in events if isinstance(events, list) else []:
            if isinstance(e, dict):
                when = e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or ""
                count = f" (x{e.get('count')})" if (e.get("count") or 1) > 1 else ""
                timeline.append({"time": str(when), "source": "event",
                                 "what": f"{label}: {e.get('type')} {e.get('reason')}: {e.get('message')}{count}"})
        pod = _load_json(bdir / "pod.json")
        if isinstance(pod, dict):
            timeline.extend(_pod_timeline(pod, label))
        bundles.append(status)
    for rel in sorted(set(recorded) - seen):
        problems.append(f"bundle {rel} is recorded in {ACTIONS_FILE} but missing from the folder")
    timeline.sort(key=lambda t: _time_key(t["time"]))
    chain_break = (chain.line, chain.reason) if chain is not None else None
    return IncidentRecord(str(folder), records, chain_break, bundles, timeline, problems)
