"""Control-plane findings land in every report format of `kubehipaa scan`, with HIPAA paragraphs, no keys."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.cli.scan import ReportFormat
from tests.conftest import EXAMPLES

INSECURE = EXAMPLES / "clinic-insecure" / "control-plane"
# key material present in the insecure example's EncryptionConfiguration: must never be echoed
KEYS = ("c2hvcnQta2V5", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")


# pdf is bytes through a browser: tests/reports/test_evidence_pdf.py reads its text with pdftotext
@pytest.mark.parametrize("fmt", [f.value for f in ReportFormat if f is not ReportFormat.pdf])
def test_every_format_carries_control_plane_findings(fmt: str) -> None:
    r = CliRunner().invoke(app, ["scan", str(INSECURE), "--format", fmt, "--fail-on", "never"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    for check_id in ("KH-API-002", "KH-ENC-002", "KH-AUD-007", "KH-KUB-001"):
        assert check_id in out, (fmt, check_id)
    if fmt != "table":
        for para in ("164.312(a)(2)(iv)", "164.312(b)", "164.312(e)(1)", "164.312(d)", "164.316(b)(2)(i)"):
            assert para in out, (fmt, para)
    for key in KEYS:
        assert key not in out
