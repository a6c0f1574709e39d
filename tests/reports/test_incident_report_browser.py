"""The incident record HTML in a real browser (Debian's chromium driven by Playwright): it loads on its own
(no network), logs no console error, shows one row per action, bundle and timeline entry, the four factors of
the breach risk assessment as checkboxes, runs nothing that came from the record, and shows no PHI; a tampered
bundle is shown failed with the file named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.incident import FACTORS, INCIDENT
from kubehipaa.respond.incident import build_record
from tests.reports.browser import opened
from tests.reports.test_incident_report import BUNDLE, SSN, XSS, make_incident


@pytest.fixture(scope="module")
def record_page(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("incident")
    folder = make_incident(tmp)
    record = build_record(folder)
    html = tmp / "record.html"
    html.write_text(INCIDENT.render(record, "html", RenderOptions(width=100)), encoding="utf-8")
    with opened(html) as (page, requests):
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.reload()
        page.wait_for_load_state("load")
        yield page, record, requests, errors


def test_record_page_loads_on_its_own_without_console_errors(record_page) -> None:  # type: ignore[no-untyped-def]
    page, _record, requests, errors = record_page
    assert page.title() == "kubehipaa incident record"
    assert page.locator("h1").inner_text() == "Incident record"
    assert all(url.startswith("file://") for url in requests), requests
    assert errors == []


def test_record_page_sections_have_the_right_counts(record_page) -> None:  # type: ignore[no-untyped-def]
    page, record, _requests, _errors = record_page
    actions = page.locator("#actions tbody tr").all()
    assert len(actions) == len(record.actions) == 2
    assert [r.get_attribute("data-seq") for r in actions] == ["1", "2"]
    cells = actions[0].locator("td").all_inner_texts()
    assert cells[2] == "alice" and cells[3] == "oncall / prod" and cells[7] == "200"
    assert page.locator("#bundles tbody tr").count() == len(record.bundles) == 1
    assert page.locator("#timeline tbody tr").count() == len(record.timeline) == 6
    assert page.locator("#chain").inner_text() == "Action log: hash chain intact (2 records)"
    assert page.locator(".bundle-check.ok").count() == 1 and page.locator(".bad").count() == 0
    assert page.locator("#factors .factor").count() == len(FACTORS) == 4
    assert page.locator("#factors input[type=checkbox]").count() == 4
    assert page.locator("#notification input[type=checkbox]").count() >= 2
    assert "60 calendar days" in page.locator("#notification").inner_text()


def test_record_page_runs_nothing_and_shows_no_phi(record_page) -> None:  # type: ignore[no-untyped-def]
    page, _record, _requests, _errors = record_page
    assert page.locator("img").count() == 0 and page.locator("script").count() == 0
    assert page.title() != "pwned"
    assert XSS in page.locator("#actions").inner_text()  # shown as text
    assert SSN not in page.content()


def test_tampered_bundle_is_shown_failed_with_the_file(record_page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = make_incident(tmp_path)
    pod = folder / BUNDLE / "pod.json"
    os.chmod(pod.parent, 0o755)
    os.chmod(pod, 0o644)
    pod.write_text("{}")
    html = tmp_path / "record.html"
    html.write_text(INCIDENT.render(build_record(folder), "html", RenderOptions(width=100)), encoding="utf-8")
    page = record_page[0].context.browser.new_page()  # the module's browser (one Playwright per thread)
    page.goto(html.as_uri())
    failed = page.locator(".bundle-check.bad")
    assert failed.count() == 1 and failed.get_attribute("data-bundle") == BUNDLE
    assert failed.locator("li.changed").all_inner_texts() == ["changed: pod.json"]
    assert page.locator("#bundles td.bad").inner_text() == "FAILED"
