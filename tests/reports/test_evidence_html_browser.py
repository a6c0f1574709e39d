"""The HTML evidence report (`scan --format html`) in a real browser (Debian's chromium driven by Playwright), at
1400 px: its sections show the coverage model's states and the JSON report's counts, the filters hide and show
rows, it runs without a console error or any network request, prints, carries its data with an integrity
digest, and shows no secret. A full-page screenshot is saved as a test artifact (its path is printed)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.config import load_config
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.pipelines.scan import scan
from kubehipaa.reports.integrity import content_digest
from kubehipaa.sources.files import load_paths
from tests.conftest import ROOT
from tests.reports.browser import CHROMIUM, sync_api

SECRETS = ("hunter2-s3cr3t-evidence", "pa55word-evidence")
EXTRA = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: intake
  namespace: clinical
spec:
  selector: {{matchLabels: {{app: intake}}}}
  template:
    metadata: {{labels: {{app: intake}}}}
    spec:
      containers:
        - name: intake
          image: registry.example/intake:1.2.3
          env:
            - name: DB_PASSWORD
              value: {SECRETS[0]}
            - name: DATABASE_URL
              value: postgres://admin:{SECRETS[1]}@db.clinical:5432/ehr
"""
UNUSED = """\
  - check: KH-WL-001
    resource: {kind: Deployment, namespace: nowhere, name: nothing}
    justification: Kept for a workload that was retired.
    owner: sec-team@clinic.example
    expires: 2027-06-30
"""
EPOCH = "1796601600"  # 2026-12-07: the report is reproducible and the examples' exceptions keep their status


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("evidence")
    manifests = root / "k8s"
    shutil.copytree(ROOT / "examples" / "clinic-insecure", manifests)
    config = manifests / ".kubehipaa.yaml"
    (root / ".kubehipaa.yaml").write_text(config.read_text() + UNUSED)
    config.unlink()
    (manifests / "intake.yaml").write_text(EXTRA)
    html_path, json_path = root / "report.html", root / "report.json"
    runner = CliRunner()
    env = {"SOURCE_DATE_EPOCH": EPOCH, "COLUMNS": "120"}
    common = [str(manifests), "--config", str(root / ".kubehipaa.yaml"), "--max-rows", "5"]
    for fmt, path in (("html", html_path), ("json", json_path)):
        args = ["scan", *common, "-f", fmt, "-o", str(path)]
        with pytest.MonkeyPatch.context() as mp:  # the report records the process's command line
            mp.setattr("sys.argv", ["kubehipaa", *args])
            res = runner.invoke(app, args, env=env)
        assert res.exit_code == 1, res.output  # findings at or above high: a report is still written
    cfg = load_config(str(root / ".kubehipaa.yaml"))
    result = scan(load_paths([str(manifests)]), cfg).result
    return {"root": root, "html": html_path, "report": json.loads(json_path.read_text()),
            "coverage": scan_coverage(result), "manifests": manifests}


@pytest.fixture(scope="module")
def page_of(evidence: dict[str, Any]):  # type: ignore[no-untyped-def]
    requests: list[str] = []
    problems: list[str] = []
    own = evidence["html"].as_uri()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def route(r: Any) -> None:
                requests.append(r.request.url)
                if r.request.url == own:
                    r.continue_()
                else:
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.goto(own)
            page.wait_for_load_state("load")
            yield page, requests, problems
        finally:
            browser.close()


def _visible_rows(page: Any) -> int:
    return int(page.evaluate("document.querySelectorAll('tr.finding:not([hidden])').length"))


def test_paragraph_sections_match_the_coverage_model(evidence, page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    cov = evidence["coverage"]
    sections = page.locator("section.paragraph")
    assert sections.count() == len(cov.paragraphs) > 40
    shown = {s.get_attribute("data-paragraph"): s.get_attribute("data-state") for s in sections.all()}
    assert shown == {p.id: p.state for p in cov.paragraphs}
    for safeguard in ("administrative", "physical", "technical", "documentation"):
        assert any(pid.startswith({"administrative": "164.308", "physical": "164.310", "technical": "164.312",
                                   "documentation": "164.316"}[safeguard]) for pid in shown)
    # every state occurs in this input, and attestation-required paragraphs are listed, never omitted
    assert {"failed", "attestation-required"} <= {p.state for p in cov.paragraphs}
    assert any(p.partial for p in cov.paragraphs)  # listed under "Not assessed, and why"
    attest = [p.id for p in cov.paragraphs if p.state == "attestation-required"]
    assert page.locator("#attestation li").count() == len(attest) > 0
    not_assessed = [p.id for p in cov.paragraphs if p.state == "not-assessed" or p.partial]
    assert page.locator("#not-assessed tbody tr").count() == len(not_assessed)
    # the catalog's evidence text is shown for each paragraph
    first = cov.paragraphs[0]
    assert first.paragraph.evidence in page.locator(f"section[data-paragraph='{first.id}'] .evidence-text").inner_text()


def test_scores_and_counts_match_coverage_and_the_json_report(evidence, page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    cov, report = evidence["coverage"], evidence["report"]
    for key in ("administrative", "physical", "technical", "documentation", "all"):
        score = cov.score(None if key == "all" else key)
        cells = page.locator(f"#scores tr[data-safeguard='{key}'] td").all_inner_texts()
        want = f"{score.percent}%" if score.percent is not None else "n/a"
        assert cells[1:] == [want, str(score.passed), str(score.failed), str(score.not_assessed),
                             str(score.attestation)], key
    overall = cov.score().percent
    assert page.locator("#overall-score .score").inner_text() == (f"{overall}%" if overall is not None else "n/a")
    assert page.locator("#finding-counts .score").inner_text() == str(report["summary"]["findings"])
    for sev, n in report["summary"]["bySeverity"].items():
        bar = page.locator(f"#chart-severity g.bar[data-label='{sev}']")
        assert bar.get_attribute("data-total") == str(n)
    by_guard = sum(int(b.get_attribute("data-total")) for b in page.locator("#chart-safeguard g.bar").all())
    assert by_guard == report["summary"]["findings"]
    # per paragraph: open/suppressed findings of its rules, as the JSON report lists them, and at most 5 rows
    capped = 0
    for section in page.locator("section.paragraph").all():
        rules = set(section.locator("table.rules tbody tr").evaluate_all("rs => rs.map(r => r.dataset.rule)"))
        open_ = sum(1 for f in report["findings"] if f["checkId"] in rules and not f["suppressed"])
        suppressed = sum(1 for f in report["findings"] if f["checkId"] in rules and f["suppressed"])
        assert int(section.get_attribute("data-open")) == open_
        assert int(section.get_attribute("data-suppressed")) == suppressed
        rows = section.locator("tr.finding:not(.suppressed)").count()
        waived = section.locator("tr.finding.suppressed").count()
        assert (rows, waived) == (min(open_, 5), min(suppressed, 5))  # --max-rows 5: capped, each apart
        more = open_ + suppressed - rows - waived
        assert int(section.get_attribute("data-more")) == more
        if more:
            assert f"{more} more" in section.locator(".more").inner_text()
            capped += 1
    assert capped > 0


def test_filters_hide_and_show_rows(page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    total = page.locator("tr.finding").count()
    assert total > 20 and _visible_rows(page) == total
    page.select_option("#f-severity", "high")
    high_up = page.locator("tr.finding[data-severity='high'], tr.finding[data-severity='critical']").count()
    assert 0 < _visible_rows(page) == high_up < total
    assert page.locator("#shown-count").inner_text() == f"{high_up} of {total} finding rows shown"
    page.select_option("#f-severity", "")
    page.select_option("#f-namespace", "clinical")
    clinical = page.locator("tr.finding[data-namespace='clinical']").count()
    assert 0 < _visible_rows(page) == clinical < total
    rule = page.locator("#f-rule option").nth(1).get_attribute("value") or page.locator("#f-rule option").nth(1).inner_text()
    page.select_option("#f-namespace", "")
    page.select_option("#f-rule", rule)
    assert _visible_rows(page) == page.locator(f"tr.finding[data-rule='{rule}']").count() > 0
    page.select_option("#f-rule", "")
    suppressed = page.locator("tr.finding.suppressed").count()
    assert suppressed > 0
    page.uncheck("#f-suppressed")
    assert _visible_rows(page) == total - suppressed
    assert page.locator("tr.finding.suppressed").first.is_hidden()
    page.check("#f-suppressed")
    assert _visible_rows(page) == total


def test_exceptions_with_owner_justification_expiry_and_matches(evidence, page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    rows = {r.locator("td").nth(0).inner_text(): r.locator("td").all_inner_texts()
            for r in page.locator("#exceptions tr.exception").all()}
    suppressed = sum(1 for f in evidence["report"]["findings"] if f["suppressed"])
    assert rows["KH-WL-003"][2:] == ["platform-team@clinic.example", rows["KH-WL-003"][3], "2027-05-31", "active",
                                     str(suppressed)]
    assert rows["KH-WL-003"][3].startswith("Node log shipping reads /var/log")
    assert rows["KH-IMG-001"][5:] == ["expired", "0"]
    assert rows["KH-WL-001"][5:] == ["unused", "0"]


def test_metadata_names_every_input_with_its_sha256(evidence, page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    table = page.locator("#inputs").inner_text()
    files = sorted(p for p in evidence["manifests"].rglob("*.yaml"))
    assert files
    for path in files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in table, path
    meta = page.locator("#metadata").inner_text()
    assert "kubehipaa scan" in meta and "--max-rows 5" in meta  # the command line
    assert re.search(r"SHA-256 [0-9a-f]{64}", meta)  # the catalog's digest


def test_embedded_report_data_is_the_json_report_with_its_digest(evidence, page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    tree = page.evaluate("JSON.parse(document.getElementById('kubehipaa-report').textContent)")
    integrity = tree.pop("integrity")
    json_report = dict(evidence["report"])
    assert integrity["digest"] == json_report.pop("integrity")["digest"]  # sealed alike
    assert tree == json_report  # the same data as --format json, fingerprints included
    assert all(f["fingerprint"] for f in tree["findings"])
    assert integrity["algorithm"] == "sha256" and integrity["digest"] == content_digest(tree)
    assert page.locator("#content-digest").inner_text() == integrity["digest"]


def test_runs_without_console_errors_or_network(evidence, page_of) -> None:  # type: ignore[no-untyped-def]
    page, requests, problems = page_of
    page.select_option("#f-severity", "critical")  # the script ran and still runs cleanly
    page.select_option("#f-severity", "")
    assert problems == []
    assert requests == [evidence["html"].as_uri()]  # only the file itself: no network, no other asset
    html = evidence["html"].read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert page.locator("script:not([type])").count() == 1  # the filter; the data script is not executed


def test_no_secret_value_reaches_the_page(evidence, page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    html = evidence["html"].read_text()
    text = page.locator("body").inner_text()
    for secret in SECRETS:
        assert secret not in html and secret not in text
    assert page.locator("tr.finding").filter(has_text="DB_PASSWORD").count() > 0  # the finding is shown, masked
    assert "<redacted" in text


def test_readable_at_1400px_and_screenshot_saved(evidence, page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1400  # no horizontal scrolling at 1400 px
    shot = Path(os.environ.get("KUBEHIPAA_ARTIFACTS", evidence["root"])) / "evidence-report-1400.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1400


def test_print_emulation_hides_the_controls_and_keeps_the_content(page_of) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of
    page.emulate_media(media="print")
    try:
        assert page.locator("#filters").is_hidden()
        assert page.locator("section.paragraph").first.is_visible()
        assert page.locator("#scores").is_visible() and page.locator("#chart-severity svg").is_visible()
        assert page.locator("#metadata").is_visible()
        assert page.evaluate("getComputedStyle(document.querySelector('thead')).display") == "table-header-group"
    finally:
        page.emulate_media(media="screen")
    assert page.locator("#filters").is_visible()
