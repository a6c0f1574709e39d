"""What an evidence report says about the run itself: tool and version, when, the command line (redacted),
every input with its SHA-256, the catalog used (version and digest) and the fingerprint recipe. HTML, PDF,
OSCAL and saved scans render the same record, so a reader can tie any of them to exactly what was judged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.frameworks import load_hipaa
from kubehipaa.model import FINGERPRINT_VERSION
from kubehipaa.pipelines.scan import ScanResult
from kubehipaa.redaction import redact_argv
from kubehipaa.reports.common import TOOL_NAME, TOOL_VERSION, generated_at


@dataclass(frozen=True, slots=True)
class RunMetadata:
    tool: str
    version: str
    generated_at: str
    command_line: tuple[str, ...]
    inputs: tuple[dict[str, Any], ...]
    catalog_name: str
    catalog_version: str
    catalog_digest: str
    fingerprint_version: str = FINGERPRINT_VERSION
    objects: int = 0
    checks: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool, "version": self.version, "generatedAt": self.generated_at,
            "commandLine": list(self.command_line), "inputs": [dict(i) for i in self.inputs],
            "catalog": {"name": self.catalog_name, "version": self.catalog_version, "sha256": self.catalog_digest},
            "fingerprintVersion": self.fingerprint_version, "objects": self.objects, "checks": list(self.checks),
        }


def run_metadata(result: ScanResult, argv: Sequence[str] = (), when: str | None = None) -> RunMetadata:
    """The run's record; `argv` is the command line as typed (credentials in it are masked here)."""
    catalog = load_hipaa()
    return RunMetadata(
        tool=TOOL_NAME, version=TOOL_VERSION, generated_at=when or generated_at(),
        command_line=tuple(redact_argv(list(argv))) if argv else (),
        inputs=tuple(i.to_dict() for i in result.inputs),
        catalog_name=f"{catalog.name}, {catalog.citation}", catalog_version=catalog.version,
        catalog_digest=catalog.digest, objects=result.objects, checks=tuple(c.meta.id for c in result.checks),
    )
