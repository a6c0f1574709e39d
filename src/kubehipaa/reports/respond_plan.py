"""What a respond action did (or, under --dry-run, would do): the requests, the API's answers, the record.

Text: one block per request (method, path, content type, the exact JSON body) under a heading that says
whether it was sent; then the notes the action recorded (nothing to do, what it verified). JSON: the same as
one object (`dryRun`, `requests`, `records`) for scripts. Redacted like every report (bodies may carry
labels or env values copied from the cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubehipaa.redaction import redact_tree
from kubehipaa.reports.base import RenderOptions, json_text, require_format


@dataclass(slots=True)
class ActionOutcome:
    """One respond command's result, as the CLI hands it to this report."""

    action: str
    target: str
    namespace: str | None
    dry_run: bool
    requests: Sequence[dict[str, Any]] = ()
    """Each request as `ApiRequest.as_record()` plus `why`, and `answer` (`ApiAnswer.summary()`) once sent."""
    records: Sequence[dict[str, Any]] = ()
    summary: list[str] = field(default_factory=list)
    """Lines the action wants the responder to read last (e.g. the NetworkPolicy verification)."""
    log_path: str = ""


class RespondPlanReport:
    formats: tuple[str, ...] = ("text", "json")

    def render(self, result: ActionOutcome, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text({
                "action": result.action, "target": result.target, "namespace": result.namespace,
                "dryRun": result.dry_run,
                "requests": list(result.requests),
                "records": list(result.records), "summary": result.summary, "actionLog": result.log_path,
            })
        return _text(result)


def _text(result: ActionOutcome) -> str:
    where = f" in namespace {result.namespace}" if result.namespace else ""
    lines = [f"{result.action} {result.target}{where}"
             + (" — DRY RUN: nothing was sent; these are the exact requests" if result.dry_run else "")]
    for number, request in enumerate(result.requests, 1):
        lines.append("")
        lines.append(f"# {number}. {request['why']}" if request.get("why") else f"# {number}.")
        lines.append(f"{request['method']} {request['path']}")
        if request.get("contentType"):
            lines.append(f"Content-Type: {request['contentType']}")
        if request.get("body") is not None:
            body = redact_tree(request["body"])
            lines.append(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
        answer = request.get("answer")
        if isinstance(answer, dict):
            status = " ".join(str(answer[k]) for k in ("code", "reason") if answer.get(k))
            lines.append(f"=> {status}" + (f": {answer['message']}" if answer.get("message") else ""))
    notes = [r["note"] for r in result.records if r.get("request") is None and r.get("note")]
    if not result.requests and not notes:
        lines.append("nothing to do")
    lines.extend(f"note: {n}" for n in notes)
    lines.extend(result.summary)
    if result.log_path and not result.dry_run:
        lines.append(f"recorded in {result.log_path}")
    return "\n".join(lines) + "\n"


REPORT = RespondPlanReport()
__all__ = ["REPORT", "ActionOutcome", "RenderOptions"]
