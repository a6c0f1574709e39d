"""Coverage per HIPAA paragraph: what a scan assessed, passed, failed, could not assess, and what only a
person can attest. The one model the table summary, the HTML/PDF evidence report and OSCAL render.

Pure: the catalog and one outcome per rule in, paragraphs out. Why a model of its own: an auditor's first
question is not "how many findings" but "which safeguards did you check, and which did you not" — a
paragraph that was never assessed must never look like one that passed.

States, per paragraph (first that applies):
* `attestation-required` — no automated rule covers it (policies, training, BAAs, facility controls): listed,
  never omitted, for the organisation to evidence by attestation;
* `failed` — a rule behind it has an open (unsuppressed) finding;
* `passed` — at least one rule behind it was assessed and none has an open finding (`partial` when other
  rules behind it were not assessed: their reasons are listed);
* `not-assessed` — rules exist but none was assessed; each reason is kept (no input of that kind, managed
  control plane, permission denied, evaluated by another command, not selected).

Score (documented in docs/reports.md): per safeguard and overall, the share of *assessed* paragraphs
(passed + failed) that passed, as a whole percentage; None when nothing was assessed. Paragraphs not assessed
or needing attestation are excluded from the score and counted next to it, so a small score denominator is
visible rather than flattering.

Required/Addressable is the catalog's status; `proposed_rule=True` applies the HHS Security Rule NPRM
(90 FR 898, 6 January 2025), which would remove the distinction and make the implementation specifications
required: every `addressable` becomes `required`, marked as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from kubehipaa.frameworks.hipaa import SAFEGUARD_NAMES, HipaaCatalog, Paragraph

RuleState = Literal["failed", "passed", "not-assessed"]
ParagraphState = Literal["failed", "passed", "not-assessed", "attestation-required"]
STATES: tuple[ParagraphState, ...] = ("failed", "passed", "not-assessed", "attestation-required")
PROPOSED_RULE = "HHS Security Rule NPRM, 90 FR 898 (6 January 2025): addressable specifications become required"


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What the evaluation says about one rule: its state, why it was not assessed, its open findings by
    severity label, and how many of its findings an exception suppressed."""

    state: RuleState
    reasons: tuple[str, ...] = ()
    open_by_severity: Mapping[str, int] = field(default_factory=dict)
    suppressed: int = 0

    @property
    def open(self) -> int:
        return sum(self.open_by_severity.values())


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    rule_id: str
    relation: Literal["satisfies", "supports"]
    outcome: RuleOutcome


@dataclass(frozen=True, slots=True)
class ParagraphCoverage:
    paragraph: Paragraph
    requirement: str
    """'required', 'addressable' or 'standard' (after the proposed-rule switch)."""
    state: ParagraphState
    rules: tuple[RuleCoverage, ...]
    reasons: tuple[str, ...] = ()
    """Why it (or, when `partial`, part of it) was not assessed; unique, in rule order."""
    partial: bool = False

    @property
    def id(self) -> str:
        return self.paragraph.id

    @property
    def open_findings(self) -> int:
        return sum(r.outcome.open for r in self.rules)


@dataclass(frozen=True, slots=True)
class Score:
    passed: int
    failed: int
    not_assessed: int
    attestation: int

    @property
    def percent(self) -> int | None:
        assessed = self.passed + self.failed
        return round(100 * self.passed / assessed) if assessed else None


@dataclass(frozen=True, slots=True)
class Coverage:
    paragraphs: tuple[ParagraphCoverage, ...]
    proposed_rule: bool = False

    def by_safeguard(self) -> dict[str, list[ParagraphCoverage]]:
        out: dict[str, list[ParagraphCoverage]] = {}
        for p in self.paragraphs:
            out.setdefault(p.paragraph.safeguard, []).append(p)
        return out

    def score(self, safeguard: str | None = None) -> Score:
        chosen = [p for p in self.paragraphs if safeguard is None or p.paragraph.safeguard == safeguard]
        count = {s: sum(1 for p in chosen if p.state == s) for s in STATES}
        return Score(count["passed"], count["failed"], count["not-assessed"], count["attestation-required"])

    @staticmethod
    def safeguard_name(safeguard: str) -> str:
        return SAFEGUARD_NAMES.get(safeguard, safeguard)


def coverage(catalog: HipaaCatalog, outcomes: Mapping[str, RuleOutcome], *, proposed_rule: bool = False,
             safeguards: tuple[str, ...] = ("administrative", "physical", "technical", "documentation"),
             informational: frozenset[str] = frozenset()) -> Coverage:
    """Coverage of every catalog paragraph in `safeguards` (regulation order) from the rules' outcomes.

    A rule the catalog lists but `outcomes` does not know is `not-assessed` ("not evaluated"), never passed.
    `informational` rules (e.g. "<area> not assessed" checks, whose findings are coverage gaps, not failures)
    are left out of the paragraphs' states.
    """
    out: list[ParagraphCoverage] = []
    for para in catalog.paragraphs.values():
        if para.safeguard not in safeguards:
            continue
        requirement = catalog.requirement(para.id)
        if proposed_rule and requirement == "addressable":
            requirement = "required"
        listed: list[tuple[str, Literal["satisfies", "supports"]]] = [
            *((r, "satisfies") for r in para.satisfied_by if r not in informational),
            *((r, "supports") for r in para.supported_by if r not in informational)]
        rules = tuple(RuleCoverage(rule_id, relation,
                                   outcomes.get(rule_id, RuleOutcome("not-assessed", ("not evaluated",))))
                      for rule_id, relation in listed)
        reasons = tuple(dict.fromkeys(r for rc in rules if rc.outcome.state == "not-assessed"
                                      for r in rc.outcome.reasons))
        states = {rc.outcome.state for rc in rules}
        state: ParagraphState
        if not rules:
            state, reasons = "attestation-required", ("no automated rule can evidence this paragraph",)
        elif "failed" in states:
            state = "failed"
        elif "passed" in states:
            state = "passed"
        else:
            state = "not-assessed"
        partial = state in ("failed", "passed") and "not-assessed" in states
        out.append(ParagraphCoverage(para, requirement, state, rules, reasons, partial))
    return Coverage(tuple(_roll_up(catalog, out)), proposed_rule)


def _roll_up(catalog: HipaaCatalog, paragraphs: list[ParagraphCoverage]) -> list[ParagraphCoverage]:
    """A standard no rule cites directly takes its state from its implementation specifications (one
    failed → failed; else one passed → passed, partial if others were not; else not assessed; all needing
    attestation → attestation required)."""
    by_id = {p.id: p for p in paragraphs}
    out = []
    for p in paragraphs:
        children = [by_id[c] for c in catalog.children.get(p.id, ()) if c in by_id and c != p.id]
        if p.rules or not children:
            out.append(p)
            continue
        states = {c.state for c in children}
        state: ParagraphState
        if "failed" in states:
            state = "failed"
        elif "passed" in states:
            state = "passed"
        elif "not-assessed" in states:
            state = "not-assessed"
        else:
            out.append(p)
            continue
        reasons = (f"from its implementation specifications ({', '.join(c.id for c in children)})",
                   *dict.fromkeys(r for c in children if c.state == "not-assessed" for r in c.reasons))
        partial = state != "not-assessed" and (bool(states & {"not-assessed", "attestation-required"})
                                               or any(c.partial for c in children))
        out.append(ParagraphCoverage(p.paragraph, p.requirement, state, (), reasons, partial))
    return out
