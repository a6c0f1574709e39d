"""The HIPAA catalog as a reader sees it: every paragraph, Required/Addressable (with the proposed-rule switch),
the rules behind it (satisfies vs supports, with their titles) and the evidence text — `kubehipaa catalog`.

Pure: the catalog and the rules' metadata in, a view out. Required/Addressable and "attestation required" come
from `frameworks.coverage` (the same function a scan's coverage uses, with no outcomes), so the catalog page
can never disagree with a report on which paragraphs only a person can attest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubehipaa.frameworks.coverage import PROPOSED_RULE, coverage
from kubehipaa.frameworks.hipaa import SAFEGUARD_NAMES, HipaaCatalog
from kubehipaa.frameworks.rules import RuleMeta

SAFEGUARDS = ("administrative", "physical", "technical", "organizational", "documentation")


@dataclass(frozen=True, slots=True)
class RuleEntry:
    id: str
    title: str
    relation: str
    """'satisfies' or 'supports'."""
    family: str
    """'check' (a scan), 'audit' (`audit analyze`), 'rbac-risk' (`rbac risks`), or 'unknown'."""
    severity: str
    informational: bool = False
    """Reports what could not be assessed (an "<area> not assessed" check): never decides the paragraph."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "relation": self.relation, "family": self.family,
                "severity": self.severity, "informational": self.informational}


@dataclass(frozen=True, slots=True)
class ParagraphEntry:
    id: str
    name: str
    safeguard: str
    type: str
    """'standard' or 'implementation'."""
    standard: str | None
    requirement: str
    """'required', 'addressable' or 'standard' after the proposed-rule switch."""
    catalog_status: str
    """The catalog's own status ('required', 'addressable', 'standard'), whatever the switch."""
    evidence: str
    rules: tuple[RuleEntry, ...]
    attestation_required: bool
    via_specifications: bool
    """A standard no rule cites: a scan judges it through its implementation specifications."""

    @property
    def title(self) -> str:
        return f"{self.id} {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "safeguard": self.safeguard, "type": self.type,
                "standard": self.standard, "requirement": self.requirement, "catalogStatus": self.catalog_status,
                "evidence": self.evidence, "attestationRequired": self.attestation_required,
                "viaSpecifications": self.via_specifications, "rules": [r.to_dict() for r in self.rules]}


@dataclass(frozen=True, slots=True)
class CatalogView:
    name: str
    citation: str
    version: str
    digest: str
    proposed_rule: bool
    paragraphs: tuple[ParagraphEntry, ...]

    def by_safeguard(self) -> list[tuple[str, str, list[ParagraphEntry]]]:
        """(safeguard, its heading, its paragraphs) in regulation order; a safeguard without paragraphs is left out."""
        return [(s, SAFEGUARD_NAMES.get(s, s), ps) for s in SAFEGUARDS
                if (ps := [p for p in self.paragraphs if p.safeguard == s])]

    def counts(self) -> dict[str, int]:
        ps = self.paragraphs
        return {"paragraphs": len(ps), "required": sum(p.requirement == "required" for p in ps),
                "addressable": sum(p.requirement == "addressable" for p in ps),
                "attestationRequired": sum(p.attestation_required for p in ps),
                "withRules": sum(bool(p.rules) for p in ps)}

    def to_dict(self) -> dict[str, Any]:
        return {"catalog": {"name": self.name, "citation": self.citation, "version": self.version,
                            "sha256": self.digest},
                "proposedRule": PROPOSED_RULE if self.proposed_rule else None,
                "summary": self.counts(), "paragraphs": [p.to_dict() for p in self.paragraphs]}


def catalog_view(catalog: HipaaCatalog, rules: Mapping[str, RuleMeta], *, proposed_rule: bool = False,
                 informational: frozenset[str] = frozenset()) -> CatalogView:
    """Every paragraph of `catalog`; `rules` gives each listed rule its title (a rule the catalog lists but
    `rules` does not know is shown by id, family 'unknown', never dropped)."""
    cov = {p.id: p for p in coverage(catalog, {}, proposed_rule=proposed_rule, safeguards=SAFEGUARDS,
                                     informational=informational).paragraphs}
    out = []
    for para in catalog.paragraphs.values():
        pc = cov[para.id]
        listed = [*((r, "satisfies") for r in para.satisfied_by), *((r, "supports") for r in para.supported_by)]
        entries = []
        for rule_id, relation in listed:
            meta = rules.get(rule_id)
            entries.append(RuleEntry(rule_id, meta.title if meta else "", relation,
                                     meta.family if meta else "unknown", meta.severity.label if meta else "",
                                     rule_id in informational))
        out.append(ParagraphEntry(
            para.id, para.name, para.safeguard, para.type, para.standard, pc.requirement,
            catalog.requirement(para.id), para.evidence, tuple(entries),
            pc.state == "attestation-required", not pc.rules and pc.state != "attestation-required"))
    return CatalogView(catalog.name, catalog.citation, catalog.version, catalog.digest, proposed_rule, tuple(out))
