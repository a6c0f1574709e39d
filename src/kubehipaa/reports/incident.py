"""The incident record (`respond report`): what was done, by whom and when, whether the record and the evidence
are intact, and the HIPAA breach-assessment questions the responder still has to answer.

Markdown (for a ticket or a repository) and self-contained HTML (inline CSS, no script, no network: it is
opened by auditors on machines we do not know). Everything shown passes through the redaction layer: the
record names files and hashes, it never quotes raw evidence.

The breach-assessment prompts paraphrase 45 CFR 164.402 (the four factors of the risk assessment that decides
whether an impermissible use or disclosure is presumed a breach) and 164.404-164.410 (notification timing):
they are questions for the responder, not legal advice and not an answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.redaction import redact_text, redact_tree
from kubehipaa.reports.base import RenderOptions, require_format

NOTIFY_DAYS = 60


@dataclass(slots=True)
class BundleStatus:
    """One evidence bundle as verified now."""

    path: str
    target: str = ""
    namespace: str = ""
    collected_at: str = ""
    collected_by: str = ""
    files: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    manifest_sha256: str = ""
    unreadable: list[str] = field(default_factory=list)
    """Reads the API refused at collection time (stated, not a verification failure)."""

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.added or self.problems)


@dataclass(slots=True)
class IncidentRecord:
    """What `respond report` renders; built by `kubehipaa.respond.incident` from an evidence folder."""

    folder: str
    actions: list[dict[str, Any]]
    chain_break: tuple[int, str] | None
    bundles: list[BundleStatus]
    timeline: list[dict[str, str]]
    problems: list[str] = field(default_factory=list)
    """Folder-level problems (e.g. a bundle the action log names that is gone)."""

    @property
    def ok(self) -> bool:
        return self.chain_break is None and not self.problems and all(b.ok for b in self.bundles)

    def first_time(self) -> str:
        times = [str(a.get("time")) for a in self.actions if a.get("time")]
        return min(times) if times else ""


# The four factors of the 164.402(2) risk assessment, as questions the responder answers (our wording).
FACTORS: list[tuple[str, list[str]]] = [
    ("Nature and extent of the PHI involved", [
        "Which kinds of identifiers were in reach (names, SSNs, medical record numbers, dates, addresses, "
        "account or plan numbers)?",
        "What clinical or financial detail was in reach (diagnoses, medications, test results, payment data)?",
        "How many individuals' records, and how easily could the data be tied back to a person "
        "(re-identification), alone or combined with other data?",
    ]),
    ("The unauthorized person who used the PHI or to whom it was disclosed", [
        "Who was it (an outside attacker, a workforce member, another covered entity or business associate)?",
        "Is that person bound by HIPAA or other confidentiality duties that lower the risk?",
    ]),
    ("Whether the PHI was actually acquired or viewed", [
        "Do the logs, audit events and evidence bundles show the data was read, copied or sent out, or only "
        "that it could have been?",
        "Which evidence supports the answer (name the bundle files and audit entries)?",
    ]),
    ("The extent to which the risk to the PHI has been mitigated", [
        "What containment was done and when (see the actions above)?",
        "Were credentials revoked and secrets rotated; were copies destroyed, with assurances obtained?",
        "What risk remains?",
    ]),
]

EXCEPTIONS = [
    "Unintentional, good-faith access by a workforce member acting within authority, not further used or "
    "disclosed improperly.",
    "Inadvertent disclosure between people authorized at the same covered entity, business associate or "
    "organized health care arrangement, not further used or disclosed improperly.",
    "A good-faith belief that the recipient could not reasonably have retained the information.",
    "The PHI was secured (encrypted or destroyed as HHS guidance specifies), so it is not 'unsecured PHI'.",
]


def notification_prompts(first_action: str) -> list[str]:
    """The notification-timing questions; with the earliest recorded action as a lower bound on discovery."""
    deadline = ""
    if first_action:
        try:
            start = dt.datetime.fromisoformat(first_action.replace("Z", "+00:00"))
            deadline = (start + dt.timedelta(days=NOTIFY_DAYS)).date().isoformat()
        except ValueError:
            deadline = ""
    out = [
        "Date of discovery: the first day the breach was known, or would have been known with reasonable "
        "diligence, to anyone in the workforce other than the person who committed it. It may be earlier than "
        "the first action recorded here" + (f" ({first_action})." if first_action else "."),
        "Individuals must be notified without unreasonable delay; waiting until the last allowed day is not "
        f"automatically reasonable. The outer limit is {NOTIFY_DAYS} calendar days after discovery (164.404)"
        + (f": {deadline} if discovery was on the day of the first recorded action." if deadline else "."),
        "More than 500 residents of one State or jurisdiction: prominent media outlets there must also be "
        "told within the same limit (164.406).",
        "The HHS Secretary: at the same time as the individuals when 500 or more are affected; otherwise in "
        "the yearly log, within 60 days after the end of the calendar year (164.408).",
        "A business associate tells the covered entity without unreasonable delay and within 60 days of its "
        "own discovery, naming each affected individual as far as possible (164.410).",
        "Has law enforcement asked for a delay because notice would impede an investigation (164.412)? "
        "Record who asked, when, and for how long.",
    ]
    return out


class IncidentReport:
    formats: tuple[str, ...] = ("md", "html")

    def render(self, result: IncidentRecord, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        view = _view(result, options)
        if fmt == "html":
            from jinja2 import Environment, PackageLoader, select_autoescape  # HTML only

            env = Environment(loader=PackageLoader("kubehipaa.reports", "templates"),
                              autoescape=select_autoescape(["html", "j2"]))
            return env.get_template("incident.html.j2").render(r=view)
        return _markdown(view)


def _answer_code(record: dict[str, Any]) -> str:
    answer = record.get("answer")
    return str(answer.get("code")) if isinstance(answer, dict) and answer.get("code") is not None else "-"


def _request_text(record: dict[str, Any]) -> str:
    request = record.get("request")
    if not isinstance(request, dict):
        return "-"
    return f"{request.get('method')} {request.get('path')}"


def _view(result: IncidentRecord, options: RenderOptions) -> dict[str, Any]:
    """Plain, redacted data both formats render (one redaction pass, at the exit)."""
    actions = [{
        "seq": a.get("seq"), "time": a.get("time"), "localUser": a.get("localUser"),
        "kubeUser": a.get("kubeUser"), "context": a.get("context"), "action": a.get("action"),
        "target": a.get("target"), "namespace": a.get("namespace") or "", "request": _request_text(a),
        "code": _answer_code(a), "dryRun": bool(a.get("dryRun")), "note": a.get("note") or "",
    } for a in result.actions]
    bundles = [{
        "path": b.path, "target": b.target, "namespace": b.namespace, "collectedAt": b.collected_at,
        "collectedBy": b.collected_by, "files": b.files, "ok": b.ok, "changed": b.changed, "missing": b.missing,
        "added": b.added, "problems": b.problems, "manifest": b.manifest_sha256, "unreadable": b.unreadable,
    } for b in result.bundles]
    first = result.first_time()
    view = {
        "folder": result.folder, "generatedAt": options.generated_at or "", "ok": result.ok,
        "chainBreak": ({"line": result.chain_break[0], "reason": result.chain_break[1]}
                       if result.chain_break else None),
        "actions": actions, "bundles": bundles, "timeline": result.timeline, "problems": result.problems,
        "factors": [{"title": t, "prompts": p} for t, p in FACTORS], "exceptions": EXCEPTIONS,
        "notification": notification_prompts(first),
    }
    redacted: dict[str, Any] = redact_tree(view)
    return redacted


def _cell(value: Any) -> str:
    return redact_text(str(value)).replace("|", "\\|").replace("\n", " ")


def _markdown(v: dict[str, Any]) -> str:
    out = [f"# Incident record: {v['folder']}", ""]
    if v["generatedAt"]:
        out += [f"Generated {v['generatedAt']} by kubehipaa.", ""]
    out += ["## Integrity", ""]
    if v["chainBreak"]:
        out.append(f"- **Action log BROKEN** at actions.jsonl line {v['chainBreak']['line']}: "
                   f"{v['chainBreak']['reason']}")
    else:
        out.append(f"- Action log: hash chain intact ({len(v['actions'])} records)")
    for b in v["bundles"]:
        if b["ok"]:
            out.append(f"- Bundle {b['path']}: {b['files']} files verified against MANIFEST.sha256")
        else:
            out.append(f"- **Bundle {b['path']} FAILED verification**")
            out += [f"  - changed: {f}" for f in b["changed"]]
            out += [f"  - missing: {f}" for f in b["missing"]]
            out += [f"  - added (not in the manifest): {f}" for f in b["added"]]
            out += [f"  - {p}" for p in b["problems"]]
    out += [f"- **{p}**" for p in v["problems"]]
    out += ["", f"## Actions ({len(v['actions'])})", "",
            "| # | Time (UTC) | Local user | Kube user / context | Action | Target | Request | Answer | Note |",
            "|---|---|---|---|---|---|---|---|---|"]
    for a in v["actions"]:
        target = f"{a['target']} ({a['namespace']})" if a["namespace"] else a["target"]
        out.append("| " + " | ".join(_cell(x) for x in (
            a["seq"], a["time"], a["localUser"], f"{a['kubeUser']} / {a['context']}",
            a["action"] + (" (dry run)" if a["dryRun"] else ""), target, a["request"], a["code"], a["note"])) + " |")
    out += ["", f"## Evidence bundles ({len(v['bundles'])})", ""]
    for b in v["bundles"]:
        out += [f"### {b['path']}", "",
                f"- Target: {b['target']} in {b['namespace']}; collected {b['collectedAt']} by {b['collectedBy']}",
                f"- Files: {b['files']}; MANIFEST.sha256 sha256 {b['manifest'] or '-'}",
                f"- Verification: {'intact' if b['ok'] else 'FAILED (see Integrity)'}"]
        out += [f"- Not readable at collection: {', '.join(b['unreadable'])}"] if b["unreadable"] else []
        out.append("")
    out += [f"## Timeline ({len(v['timeline'])})", "", "| Time (UTC) | Source | What |", "|---|---|---|"]
    out += ["| " + " | ".join(_cell(t[k]) for k in ("time", "source", "what")) + " |" for t in v["timeline"]]
    out += ["", "## Breach risk assessment (45 CFR 164.402)", "",
            "Unless an exception applies, an impermissible use or disclosure of PHI is presumed a breach unless a "
            "documented assessment of at least these four factors shows a low probability that the PHI has been "
            "compromised. Answer each; tick it when answered and the evidence is named.", ""]
    for n, f in enumerate(v["factors"], 1):
        out.append(f"- [ ] **{n}. {f['title']}**")
        out += [f"  - {p}" for p in f["prompts"]]
        out += ["  - Answer: ", "  - Evidence: "]
    out += ["", "Exceptions (164.402(1)) — tick one only if it applies, and say why:", ""]
    out += [f"- [ ] {e}" for e in v["exceptions"]]
    out += ["", "- [ ] Conclusion: low probability of compromise / breach — decided by ____ on ____", "",
            "## Notification timing (45 CFR 164.404-164.412)", ""]
    out += [f"- [ ] {p}" for p in v["notification"]]
    return "\n".join(str(x) for x in out) + "\n"


INCIDENT = IncidentReport()
__all__ = ["FACTORS", "INCIDENT", "BundleStatus", "IncidentRecord", "IncidentReport"]
