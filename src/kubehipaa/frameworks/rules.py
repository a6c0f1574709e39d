"""One metadata type for every rule kubehipaa reports, and the one validator they all pass.

Four registries produce findings or alerts: the scanner's checks (`checks/registry.py`), the audit-log detections
(`engines/auditlog/catalog.py`), the RBAC risk rules (`engines/rbac/risk_rules.yaml`) and the Sigma rules a user
loads at run time (`engines/auditlog/sigma/`). Each keeps the record its engine evaluates, and each describes itself
with a `RuleMeta` (`.meta`) that `validate` checks when the rule is registered: an id in its family's format, a
`Severity`, HIPAA Security Rule paragraphs that exist in the catalog (`frameworks/hipaa.yaml`, by their
catalog id), a remediation. A typo or a citation outside the catalog therefore fails when the registry is
built (a built-in rule: at import, a bug; a user's file: an input error naming it), never silently in a report.

`frameworks/hipaa.yaml` lists, per paragraph, the built-in rules that cite it (`satisfied_by` / `supported_by`,
from `relation`); `scripts/gen_frameworks.py` writes that listing from these records, so it is never edited by
hand, and tests/frameworks/test_rule_listing.py fails when it is stale.

A leaf: it imports only `kubehipaa.model` and the generated paragraph index (`hipaa_ids`), so every layer,
engines included, may use it, and building the audit-log catalog at `audit analyze` start-up pays for neither
YAML nor pydantic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeVar, get_args

from kubehipaa.frameworks.hipaa_ids import PARAGRAPHS
from kubehipaa.model import Severity

Family = Literal["check", "audit", "rbac-risk", "sigma"]
"""Which registry a rule belongs to; decides its id format."""
Relation = Literal["satisfies", "supports"]
"""`satisfies`: the rule alone evidences the technical requirement of each paragraph it cites; `supports`: it is
one piece of the evidence. The catalog lists rules under `satisfied_by` / `supported_by` accordingly."""
FAMILIES: tuple[str, ...] = get_args(Family)
RELATIONS: tuple[str, ...] = get_args(Relation)

ID_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "check": (re.compile(r"KH-[A-Z]{2,5}-\d{3}"), "KH-<AREA>-<NNN>"),
    "audit": (re.compile(r"KH-AUDLOG-\d{3}"), "KH-AUDLOG-<NNN>"),
    "rbac-risk": (re.compile(r"RR-\d{3}"), "RR-<NNN>"),
    "sigma": (re.compile(r"sigma:\S[^\n\r]*"), "sigma:<Sigma rule id>"),
}
"""Rule id format per family (whole-string match)."""
BUILTIN_RULE_ID = re.compile("|".join(f"(?:{ID_FORMATS[f][0].pattern})" for f in ("check", "audit", "rbac-risk")))
"""An id of a built-in rule: what the catalog's per-paragraph listing may name (Sigma rules are the user's)."""

PARAGRAPH_ID = re.compile(
    r"^164\.(308|310|312|314|316)\([a-e]\)(\(\d+\))?(\((i|ii|iii|iv|v|vi|vii|viii)\))?(\([A-J]\))?$"
)
"""The shape of a Security Rule paragraph id (45 CFR 164.308-164.316), e.g. 164.312(a)(2)(iv)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleMeta:
    """What an auditor reads about a rule, whatever evaluates it: the base of `CheckMeta` and `RiskRule`, and what
    an audit-log `Rule` (built-in or Sigma) describes itself as (`Rule.meta`)."""

    id: str
    title: str
    severity: Severity
    hipaa: tuple[str, ...]
    """Catalog ids of the Security Rule paragraphs the rule evidences."""
    remediation: str
    description: str = ""
    """Why the rule matters or what it matches, in words (a check's rationale, an audit rule's matching logic,
    a risk rule's `why`)."""
    relation: Relation = "supports"
    family: Family

    @property
    def meta(self) -> RuleMeta:
        """Itself: every rule record answers `.meta` (a `Check` holds a `CheckMeta`, an audit `Rule` builds one)."""
        return self


class RuleError(ValueError):
    """Invalid rule metadata. The message starts with the rule id."""


M = TypeVar("M", bound=RuleMeta)


def catalog_id(paragraph: str) -> str | None:
    """The catalog id for a paragraph id or one of its aliases (164.308(a)(7) → 164.308(a)(7)(i)); None when the
    catalog does not have it."""
    return PARAGRAPHS.get(paragraph)


def problems(meta: RuleMeta) -> list[str]:
    """Everything wrong with `meta`, each as one phrase (empty when valid)."""
    out: list[str] = []
    fmt = ID_FORMATS.get(meta.family)
    if fmt is None:
        out.append(f"unknown rule family {meta.family!r} (one of {', '.join(FAMILIES)})")
    elif not isinstance(meta.id, str) or not fmt[0].fullmatch(meta.id):
        out.append(f"id {meta.id!r} does not match {fmt[1]} (the {meta.family} id format)")
    if not isinstance(meta.title, str) or not meta.title.strip():
        out.append("has no title")
    if not isinstance(meta.severity, Severity):
        out.append(f"severity {meta.severity!r} is not one of {', '.join(s.label for s in Severity)}")
    if meta.relation not in RELATIONS:
        out.append(f"relation {meta.relation!r} is not one of {', '.join(RELATIONS)}")
    if not isinstance(meta.hipaa, tuple) or not meta.hipaa:
        out.append("names no HIPAA Security Rule paragraph")
    else:
        seen: set[str] = set()
        for para in meta.hipaa:
            known = catalog_id(para) if isinstance(para, str) else None
            if known is None:
                out.append(f"cites {para!r}, which is not a paragraph of the HIPAA Security Rule catalog "
                           "(frameworks/hipaa.yaml)")
            elif known != para:
                out.append(f"cites {para}: cite {known}, the catalog's id for it")
            elif para in seen:
                out.append(f"cites {para} twice")
            seen.add(para)
    if not isinstance(meta.remediation, str) or not meta.remediation.strip():
        out.append("has no remediation")
    return out


def validate(meta: M) -> M:
    """`meta` itself when it is valid; else `RuleError` naming the rule and its first problem. Registries call
    this when a rule is registered."""
    found = problems(meta)
    if found:
        raise RuleError(f"{meta.id}: {found[0]}")
    return meta


# -- families whose rules do not state everything themselves ------------------------------------------------

REVIEW_REMEDIATION = (
    "Review the request (who, from which address, on which object) and confirm it was authorized and expected; "
    "if it was not, follow the security incident procedure (164.308(a)(6))."
)
"""The remediation of an audit-log or Sigma alert whose rule states none: an alert asks for a review."""

SIGMA_SEVERITY: dict[str, Severity] = {
    "informational": Severity.LOW, "low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
"""Sigma level → Severity (informational has no counterpart and reads as low; a rule without a level, medium)."""
SIGMA_HIPAA = ("164.312(b)", "164.308(a)(1)(ii)(D)")
"""The default mapping of a Sigma rule without `hipaa.<paragraph>` tags: what any audit-log detection supports,
audit controls and information-system activity review (Sigma rules carry ATT&CK tags, not HIPAA paragraphs)."""
HIPAA_TAG = "hipaa."
"""Sigma tag namespace naming a Security Rule paragraph, e.g. `hipaa.164.312(a)(1)` (case-insensitive)."""

_FOLDED: dict[str, str] = {}


def _tag_paragraph(text: str) -> str:
    """A `hipaa.` tag's paragraph as the catalog spells it (Sigma tags are conventionally lower case:
    `164.308(a)(1)(ii)(d)` is 164.308(a)(1)(ii)(D)); unknown text comes back as written, for the error."""
    if not _FOLDED:
        _FOLDED.update({k.lower(): v for k, v in PARAGRAPHS.items()})
    return PARAGRAPHS.get(text) or _FOLDED.get(text.lower(), text)


@lru_cache(maxsize=4096)
def sigma_rule_meta(rule_id: str, title: str, level: str, tags: tuple[str, ...]) -> RuleMeta:
    """The validated metadata of a Sigma rule: id `sigma:<rule id>`, severity from its level, HIPAA paragraphs
    from its `hipaa.` tags or, without any, `SIGMA_HIPAA`; remediation `REVIEW_REMEDIATION`. Cached: every
    Sigma alert asks."""
    cited = [_tag_paragraph(t[len(HIPAA_TAG):]) for t in tags if t[: len(HIPAA_TAG)].lower() == HIPAA_TAG]
    return validate(RuleMeta(
        id=f"sigma:{rule_id}", title=title, severity=SIGMA_SEVERITY.get(level, Severity.MEDIUM),
        hipaa=tuple(dict.fromkeys(cited)) or SIGMA_HIPAA, remediation=REVIEW_REMEDIATION, family="sigma",
    ))
