"""The JSON report's typed model: the one definition its published JSON Schema is generated from.

Why a model and not a hand-kept schema: two hand-kept copies drifted apart silently; now
`scripts/gen_report_schema.py` writes `kubehipaa/reports/schemas/kubehipaa-report.schema.json` from
`report_json_schema()`, a test fails when that file is stale, and tests validate real reports against both the
model and the schema.

Why `report_dict` builds plain dicts rather than these models: a scan of 10,000 workloads has tens of
thousands of findings, and constructing and dumping a model per finding would add to every `scan -f json`
what one validation in the tests catches (measured in docs/reports.md, "JSON": validating a 9,400-finding
report through the model costs about twice what building it does).

`extra="forbid"` everywhere: a key the model does not know is an error (the schema's
`additionalProperties: false`), so a renderer that adds a field must add it here first.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Kept apart so that rendering a report does not build this model; re-exported for the schema generator and tests.
from kubehipaa.reports.json_ids import SCHEMA_ID as SCHEMA_ID
from kubehipaa.reports.json_ids import SCHEMA_VERSION as SCHEMA_VERSION

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

CheckId = Annotated[str, Field(pattern=r"^KH-[A-Z]{2,5}-[0-9]{3}$")]
Severity = Literal["low", "medium", "high", "critical"]
HipaaParagraph = Annotated[str, Field(
    pattern=r"^164\.(308|310|312|314|316)\([a-e]\)(\([0-9]+\))?(\((i|ii|iii|iv|v|vi|vii|viii)\))?(\([A-J]\))?$")]
Count = Annotated[int, Field(ge=0)]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
WarningCode = Literal["broad-exception", "no-phi-namespace", "no-network-policy", "no-rbac", "no-namespaces",
                      "ignored-config", "not-readable", "managed-control-plane", "cluster-not-scanned"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Tool(_Strict):
    name: Literal["kubehipaa"]
    version: Annotated[str, Field(min_length=1)]


class Framework(_Strict):
    name: str
    citation: str


class ReportConfig(_Strict):
    source: str | None = Field(description="The .kubehipaa.yaml that was used, or null for the defaults.")
    phiNamespaces: Annotated[list[str], Field(json_schema_extra={"uniqueItems": True})]


class BySeverity(_Strict):
    critical: Count
    high: Count
    medium: Count
    low: Count


class Summary(_Strict):
    text: str
    objects: Count
    checks: Count
    findings: Count = Field(description="Unsuppressed findings.")
    suppressed: Count
    bySeverity: BySeverity
    expiredExceptions: Count
    errors: Count
    skipped: Count
    warnings: Count = Field(0, description="Entries in the top-level `warnings`.")


class Resource(_Strict):
    apiVersion: str
    kind: Annotated[str, Field(min_length=1)]
    namespace: str | None
    name: str
    file: str = Field(description="The file the object was read from.")
    line: Count = Field(description="1-based line where the object starts; 0 for an object listed from a live "
                                    "cluster (file cluster:<context>/<kind>/...), which has no line.")
    namespaceAssumed: bool = Field(
        False, description="True when the manifest has no metadata.namespace and `namespace` is the one it would "
                           "be applied to (--namespace, else default).")


class Evidence(_Strict):
    path: str = Field(description="The offending field, e.g. "
                                  "spec.template.spec.containers[0].securityContext.privileged.")
    value: Any = Field(description="The offending value; a redaction marker when `redacted` is true.")
    redacted: bool


class Suppression(_Strict):
    check: str
    owner: Annotated[str, Field(min_length=1)]
    justification: Annotated[str, Field(min_length=1)]
    expires: dt.date


_SUPPRESSION_RULE = {
    "if": {"properties": {"suppressed": {"const": True}}},
    "then": {"properties": {"suppression": {"$ref": "#/$defs/Suppression"}}},
    "else": {"properties": {"suppression": {"type": "null"}}},
}


class Finding(_Strict):
    checkId: CheckId
    title: Annotated[str, Field(min_length=1)]
    severity: Severity
    resource: Resource
    message: str
    evidence: list[Evidence]
    remediation: str
    hipaa: Annotated[list[HipaaParagraph], Field(min_length=1)]
    safeguard: str = Field(description="The HIPAA standard the finding is grouped under (the standard of its first "
                                       "paragraph), or 'unmapped'.")
    suppressed: bool
    suppression: Suppression | None = Field(description="The exception that suppresses it; null when not "
                                                        "suppressed (and only then).")
    fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] = Field(
        description="Stable id: rule + object identity (API group, kind, namespace, name, cluster context) + field "
                    "path; not file or line (docs/reports.md).")

    @model_validator(mode="after")
    def _suppressed_has_its_exception(self) -> Finding:
        if self.suppressed != (self.suppression is not None):
            raise ValueError("a suppressed finding names its exception, and only a suppressed one")
        return self


class ExceptionResource(_Strict):
    kind: str | None
    namespace: str | None
    name: str | None
    container: str | None = Field(None, description="Container name pattern: only findings in that container match.")


class ExceptionRecord(_Strict):
    check: str
    resource: ExceptionResource
    scope: Literal["all-resources"] | None = Field(
        None, description="all-resources: a check pattern that deliberately covers every resource.")
    owner: str
    approver: str | None = Field(None, description="Who accepted the risk (optional in .kubehipaa.yaml).")
    justification: str
    expires: dt.date


class Exceptions(_Strict):
    expired: list[ExceptionRecord] = Field(
        description="Exceptions past their expiry date: they no longer suppress anything.")
    unused: list[ExceptionRecord] = Field(description="Live exceptions that matched no finding.")


class Warning(_Strict):
    code: WarningCode
    message: Annotated[str, Field(min_length=1)]
    exception: ExceptionRecord | None = Field(None, description="For broad-exception: the exception.")


class CheckError(_Strict):
    checkId: CheckId
    message: str


class Skipped(_Strict):
    file: str
    line: Annotated[int, Field(ge=1)] | None
    message: str


class CheckMeta(_Strict):
    id: CheckId
    title: str
    area: str
    severity: Severity
    phiSeverity: Severity | None = None
    hipaa: Annotated[list[HipaaParagraph], Field(min_length=1)]
    relation: Literal["satisfies", "supports"]
    cis: list[str] = []
    nsa: list[str] = []
    pss: list[str] = []
    remediation: str
    description: str = ""
    scope: str = ""


class Signature(_Strict):
    algorithm: Literal["ed25519"]
    publicKey: str = Field(description="The signer's raw 32-byte Ed25519 public key, base64.")
    keyFingerprint: Annotated[str, Field(pattern=r"^SHA256:[A-Za-z0-9+/]{43}$")] = Field(
        description="SHA256: + unpadded base64 of the SHA-256 of the key's SSH wire form (as ssh-keygen -l "
                    "prints it).")
    value: str = Field(description="Ed25519 signature (base64) over the canonical bytes of this integrity block "
                                   "without `signature`.")


class ItemDigests(_Strict):
    section: Literal["findings"]
    key: Literal["fingerprint"]
    digests: dict[str, Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] = Field(
        description="Per finding (a repeated fingerprint gets #2, #3...): SHA-256 of its canonical bytes, first "
                    "128 bits. Locates a change; `digest` proves it.")


class Integrity(_Strict):
    algorithm: Literal["sha256"]
    canonicalization: Literal["kubehipaa-json-c14n-1"] = Field(
        description="Sorted keys, compact separators, UTF-8, the top-level `integrity` key left out.")
    digest: Hex64 = Field(description="SHA-256 of the report's canonical bytes.")
    sections: dict[str, Hex64] = Field(description="SHA-256 of each top-level section's canonical bytes.")
    items: ItemDigests | None = None
    signature: Signature | None = None


class Report(_Strict):
    """kubehipaa scan report."""

    model_config = ConfigDict(
        title="kubehipaa scan report",
        json_schema_extra={"description": "The JSON report of `kubehipaa scan --format json`: findings mapped to "
                           "HIPAA Security Rule paragraphs, with suppressed findings kept visible, expired "
                           "exceptions reported, and an integrity block (`kubehipaa verify`)."},
    )

    schema_: str | None = Field(None, alias="$schema")
    schemaVersion: Literal["1.1"]
    tool: Tool
    generatedAt: dt.datetime
    framework: Framework
    config: ReportConfig
    summary: Summary
    findings: list[Finding]
    exceptions: Exceptions
    warnings: list[Warning] = Field(
        [], description="What the findings alone would hide: exceptions over several checks on every resource, "
        "kinds of input the scan did not see (no PHI namespace, no NetworkPolicy, no RBAC objects, no Namespace "
        "objects), and a .kubehipaa.yaml found in a scanned directory that was not used (ignored-config; see "
        "--trust-config). Absent in reports of kubehipaa versions that did not produce it.")
    errors: list[CheckError] = Field(description="Checks that could not run on this input.")
    skipped: list[Skipped] = Field(
        description="Input that was not analysed: documents that are not Kubernetes objects, files that could not "
        "be read or rendered, earlier definitions of an object defined again, objects refused for their "
        "namespace, Kustomize Components.")
    checks: list[CheckMeta] = Field(description="The checks that ran.")
    integrity: Integrity | None = Field(
        None, description="SHA-256 of the canonical content, per-section and per-finding digests, optional Ed25519 "
                          "signature: checked by `kubehipaa verify` (docs/reports.md, Integrity).")


def report_json_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12), generated from `Report`: what the packaged file must equal."""
    schema = Report.model_json_schema(by_alias=True, mode="validation")
    # pydantic cannot say "suppression is an object exactly when suppressed" (the model validator does): the
    # same rule as JSON Schema, added after generation because pydantic resolves $refs in json_schema_extra.
    schema["$defs"]["Finding"].update(_SUPPRESSION_RULE)
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": SCHEMA_ID, **schema}
