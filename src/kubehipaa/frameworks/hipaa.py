"""Load and validate `hipaa.yaml`, the HIPAA Security Rule catalog.

Why data and not code: a compliance officer can review one YAML file against the regulation, and a rule
only names paragraph ids. The loader refuses a catalog with a malformed id, a dangling parent or a
missing Required/Addressable status, so a typo there cannot silently drop a safeguard from a report.

Each paragraph also lists the built-in rules that satisfy or support it (`satisfied_by`, `supported_by`): the
base of per-safeguard scoring and OSCAL. That listing is generated from the rules' metadata
(`scripts/gen_frameworks.py`); here it is only checked for shape (rule ids, no rule twice).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from kubehipaa.errors import KubehipaaError
from kubehipaa.frameworks.rules import BUILTIN_RULE_ID, PARAGRAPH_ID

RuleId = Annotated[str, StringConstraints(pattern=f"^(?:{BUILTIN_RULE_ID.pattern})$")]
SAFEGUARD_NAMES = {
    "administrative": "Administrative safeguards (164.308)",
    "physical": "Physical safeguards (164.310)",
    "technical": "Technical safeguards (164.312)",
    "organizational": "Organizational requirements (164.314)",
    "documentation": "Policies, procedures and documentation (164.316)",
}


class Paragraph(BaseModel):
    """One standard or implementation specification of the Security Rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PARAGRAPH_ID.pattern)
    name: str = Field(min_length=1)
    safeguard: Literal["administrative", "physical", "technical", "organizational", "documentation"]
    type: Literal["standard", "implementation"]
    status: Literal["required", "addressable"] | None = None
    standard: str | None = None
    evidence: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    satisfied_by: tuple[RuleId, ...] = ()
    """Built-in rules whose metadata says they alone evidence this paragraph (generated)."""
    supported_by: tuple[RuleId, ...] = ()
    """Built-in rules that are one piece of the evidence for this paragraph (generated)."""

    @model_validator(mode="after")
    def _shape(self) -> Paragraph:
        listed = [*self.satisfied_by, *self.supported_by]
        if len(set(listed)) != len(listed):
            raise ValueError(f"{self.id}: a rule is listed twice under satisfied_by/supported_by")
        if self.type == "implementation":
            if not self.standard:
                raise ValueError(f"{self.id}: an implementation specification names its standard")
            if self.status is None:
                raise ValueError(f"{self.id}: an implementation specification is required or addressable")
        elif self.standard:
            raise ValueError(f"{self.id}: a standard has no parent standard")
        return self

    @property
    def title(self) -> str:
        return f"{self.id} {self.name}"

    @property
    def rules(self) -> tuple[str, ...]:
        """Every built-in rule citing this paragraph (those that satisfy it first)."""
        return (*self.satisfied_by, *self.supported_by)


class _FrameworkInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    citation: str
    version: str


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    framework: _FrameworkInfo
    paragraphs: list[Paragraph]


@dataclass(frozen=True)
class HipaaCatalog:
    """Paragraphs by id, with the standard every paragraph rolls up to."""

    name: str
    citation: str
    paragraphs: dict[str, Paragraph]
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    version: str = ""
    """The regulation's version the catalog follows (hipaa.yaml `framework.version`)."""
    digest: str = ""
    """SHA-256 of the catalog file: which exact catalog (with its generated rule listing) a report used."""

    def __contains__(self, pid: object) -> bool:
        return pid in self.paragraphs or pid in self.aliases

    def get(self, pid: str) -> Paragraph | None:
        """The paragraph for an id or one of its aliases (164.308(a)(7) → 164.308(a)(7)(i))."""
        return self.paragraphs.get(self.aliases.get(pid, pid))

    def standard_of(self, pid: str) -> Paragraph | None:
        """The standard a paragraph belongs to (itself if it is one); None for an unknown id."""
        para = self.get(pid)
        if para is None:
            return None
        if para.standard is None:
            return para
        return self.paragraphs.get(para.standard)

    def requirement(self, pid: str) -> str:
        """'required', 'addressable' or 'standard' (a standard whose specifications carry the status)."""
        para = self.get(pid)
        if para is None:
            return "unknown"
        return para.status or "standard"

    def order(self, pid: str) -> int:
        """Position in the regulation's order, for sorting groups; unknown ids sort last."""
        keys = list(self.paragraphs)
        pid = self.aliases.get(pid, pid)
        return keys.index(pid) if pid in self.paragraphs else len(keys)


def parse_catalog(data: Any, source: str = "hipaa.yaml") -> HipaaCatalog:
    """Validate catalog data; every problem becomes one `KubehipaaError` line naming the paragraph."""
    try:
        parsed = _CatalogFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise KubehipaaError(f"{source}: {where}: {err['msg']}") from None
    paragraphs: dict[str, Paragraph] = {}
    for para in parsed.paragraphs:
        if para.id in paragraphs:
            raise KubehipaaError(f"{source}: duplicate paragraph {para.id}")
        paragraphs[para.id] = para
    aliases: dict[str, str] = {}
    for para in paragraphs.values():
        for alias in para.aliases:
            if not PARAGRAPH_ID.match(alias) or alias in paragraphs or alias in aliases:
                raise KubehipaaError(f"{source}: {para.id}: alias {alias} is malformed or already used")
            aliases[alias] = para.id
    children: dict[str, list[str]] = {}
    for para in paragraphs.values():
        if para.standard is None:
            continue
        parent = paragraphs.get(para.standard)
        if parent is None or parent.type != "standard":
            raise KubehipaaError(f"{source}: {para.id}: standard {para.standard} is not a standard in the catalog")
        if not para.id.startswith(para.standard.rsplit("(", 1)[0]):
            raise KubehipaaError(f"{source}: {para.id} does not belong under {para.standard}")
        children.setdefault(para.standard, []).append(para.id)
    for para in paragraphs.values():
        if para.type == "standard" and para.id not in children and para.status is None:
            raise KubehipaaError(f"{source}: {para.id}: a standard without specifications is required or addressable")
    return HipaaCatalog(
        name=parsed.framework.name,
        citation=parsed.framework.citation,
        paragraphs=paragraphs,
        children={k: tuple(v) for k, v in children.items()},
        aliases=aliases,
        version=parsed.framework.version,
    )


CATALOG_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The loader of the packaged catalog: libyaml's when PyYAML was built with it."""


@cache
def load_hipaa() -> HipaaCatalog:
    """The packaged HIPAA catalog (validated once per process).

    Parsed with libyaml (`CSafeLoader`, the pure-Python `SafeLoader`'s resolver and constructor over a C
    parser): every scan report loads it, and the Python parser cost 0.09 s of CPU, a tenth of the checks on
    2,000 workloads. The file is ours and plain; tests/frameworks hold the two loaders equal on it."""
    text = resources.files("kubehipaa.frameworks").joinpath("hipaa.yaml").read_text(encoding="utf-8")
    catalog = parse_catalog(yaml.load(text, Loader=CATALOG_LOADER))
    return dataclasses.replace(catalog, digest=hashlib.sha256(text.encode("utf-8")).hexdigest())
