"""The JSON report's schema version and id, apart from the pydantic model that defines the schema.

Why a module of two constants: every `scan -f json` needs them, but importing `json_model` builds the whole
pydantic model of the report (about 60 ms of CPU per run, a tenth of rendering 18,718 findings), which only
the schema generator and the tests need.
"""

from __future__ import annotations

SCHEMA_VERSION = "1.1"
SCHEMA_ID = f"https://kubehipaa.dev/schemas/kubehipaa-report-{SCHEMA_VERSION}.schema.json"
