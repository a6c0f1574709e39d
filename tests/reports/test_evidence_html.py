"""The HTML evidence report without a browser: the embedded data cannot close its script element and carries a
digest `verify` can recompute, no finding is dropped (a rule no paragraph lists has its own section), rows are
capped per paragraph with the rest counted, the proposed-rule switch, and the CLI's `html`/`pdf` wiring."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import KubehipaaError
from kubehipaa.frameworks import load_hipaa
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.evidence_html import REPORT_SCRIPT_ID, render_evidence_html
from kubehipaa.reports.integrity import content_digest
from kubehipaa.reports.integrity import script_json as embedded_json
from kubehipaa.reports.scan import ScanReport
from tests.conftest import ROOT
from tests.reports.fixtures import SECRET_VALUE, make_result

HOSTILE = "</script><script>document.title='pwned'</script><!-- & -->"
EXAMPLE = str(ROOT / "examples" / "clinic-insecure")


def _embedded(html: str) -> dict:  # type: ignore[type-arg]
    match = re.search(rf'<script type="application/json" id="{REPORT_SCRIPT_ID}">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_embedded_json_cannot_close_its_script_element() -> None:
    tree = {"message": HOSTILE, "nested": [HOSTILE]}
    text = embedded_json(tree)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == tree


def test_report_data_is_embedded_with_its_digest_and_markup_from_input_stays_text(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    result.findings[0].message = HOSTILE  # as if a manifest had put it there
    html = render_evidence_html(result, config)
    assert html.count("<script") == 2 and html.count("</script>") == 2  # the data and the filter, nothing else
    tree = _embedded(html)
    assert tree["integrity"]["digest"] == content_digest(tree)
    from kubehipaa.reports.integrity import check

    assert check(tree).ok
    assert HOSTILE in {f["message"] for f in tree["findings"]}
    assert "&lt;/script&gt;&lt;script&gt;" in html  # the visible copy is escaped text
    assert SECRET_VALUE not in html


def test_no_finding_is_dropped_when_no_paragraph_lists_its_rule(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)  # stand-in checks the catalog does not list
    html = render_evidence_html(result, config, max_rows=None)
    other = html[html.index('<section id="other-findings"'):html.index('<section id="exceptions">')]
    assert other.count('<tr class="finding') == len(result.findings) > 0
    assert f'data-open="{len(result.active)}" data-suppressed="{len(result.suppressed)}"' in other


def test_rows_are_capped_per_paragraph_and_the_rest_counted(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    html = render_evidence_html(result, config, max_rows=1)
    other = html[html.index('<section id="other-findings"'):html.index('<section id="exceptions">')]
    shown = other.count('<tr class="finding')
    assert shown == min(len(result.active), 1) + min(len(result.suppressed), 1)
    assert f"… {len(result.findings) - shown} more finding(s) not listed" in other
    assert 'id="cap-note"' in html
    assert len(_embedded(html)["findings"]) == len(result.findings)  # the data keeps every finding


def test_every_paragraph_is_a_section_and_the_proposed_rule_makes_addressable_required(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    catalog = load_hipaa()
    addressable = [p.id for p in catalog.paragraphs.values() if p.status == "addressable"
                   and p.safeguard in ("administrative", "physical", "technical", "documentation")]
    today = render_evidence_html(result, config)
    proposed = render_evidence_html(result, config, proposed_rule=True)
    for html in (today, proposed):
        ids = re.findall(r'<section class="paragraph [a-z]+" id="[^"]+" data-paragraph="([^"]+)"', html)
        assert set(ids) == {p.id for p in catalog.paragraphs.values()
                            if p.safeguard in ("administrative", "physical", "technical", "documentation")}
    assert today.count("required under the proposed rule") == 0
    assert proposed.count("(addressable today; required under the proposed rule)") == len(addressable) > 0
    assert "proposed rule applied" in proposed and "proposed rule applied" not in today


def test_scan_report_offers_html_and_pdf(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    report = ScanReport(config, argv=("kubehipaa", "scan", "--token", "s3cr3t-tok"))
    assert "html" in report.formats
    html = report.render(result, "html", RenderOptions(width=100))
    assert "kubehipaa scan --token" in html and "s3cr3t-tok" not in html  # the command line, redacted


def test_cli_pdf_needs_an_output_file_and_says_so_before_scanning() -> None:
    res = CliRunner().invoke(app, ["scan", "does-not-exist", "-f", "pdf"])
    assert res.exit_code == 2
    assert "--format pdf writes a binary file: give -o FILE" in res.output
    assert "does-not-exist" not in res.output  # refused before the input was read


def test_cli_pdf_without_the_extra_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # as if kubehipaa[pdf] were not installed
    out = tmp_path / "report.pdf"
    res = CliRunner().invoke(app, ["scan", EXAMPLE, "-f", "pdf", "-o", str(out)])
    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: --format pdf needs the pdf extra (pip install 'kubehipaa[pdf]') and a Chromium "
                      "(apt-get install chromium, or `playwright install chromium`)"]
    assert "Traceback" not in res.output and not out.exists()


def test_pdf_with_a_browser_that_cannot_start_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("playwright.sync_api")
    from kubehipaa.reports.evidence_pdf import html_to_pdf

    monkeypatch.setenv("KUBEHIPAA_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(KubehipaaError, match=r"^--format pdf: cannot start /nonexistent/chromium: ") as exc:
        html_to_pdf("<p>x</p>")
    assert "\n" not in str(exc.value)


def test_cli_html_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["scan", EXAMPLE, "-f", "html", "-o", str(out)])
    assert res.exit_code == 1, res.output  # the example has high findings
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "HIPAA Security Rule evidence report" in html


def test_cli_proposed_rule_switch(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["scan", EXAMPLE, "-f", "html", "--proposed-rule", "-o", str(out)])
    assert res.exit_code == 1, res.output
    html = out.read_text()
    assert "proposed rule applied" in html and "required under the proposed rule" in html
