"""`kubehipaa catalog --format html` in a real browser (Debian's chromium driven by Playwright): it loads on its
own (no network), logs no console error, shows one section per paragraph with the right rule rows and badges,
and its filters work without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.reports.browser import opened

runner = CliRunner()


@pytest.fixture(scope="module", params=[False, True], ids=["today", "proposed-rule"])
def catalog_page(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    extra = ["--proposed-rule"] if request.param else []
    tmp = tmp_path_factory.mktemp("catalog")
    html = tmp / "catalog.html"
    res = runner.invoke(app, ["catalog", "-f", "html", "-o", str(html), *extra])
    assert res.exit_code == 0, res.output
    data = json.loads(runner.invoke(app, ["catalog", "-f", "json", *extra]).stdout)
    with opened(html) as (page, requests):
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.reload()
        page.wait_for_load_state("load")
        page.set_viewport_size({"width": 1400, "height": 900})
        yield page, data, requests, errors, tmp


def test_loads_on_its_own_without_console_errors(catalog_page) -> None:  # type: ignore[no-untyped-def]
    page, _data, requests, errors, tmp = catalog_page
    assert page.title() == "kubehipaa HIPAA catalog"
    assert all(url.startswith("file://") for url in requests), requests
    assert errors == []
    page.screenshot(path=str(Path(tmp) / "catalog.png"), full_page=False)
    assert (Path(tmp) / "catalog.png").stat().st_size > 0


def test_sections_rules_and_badges_have_the_right_counts(catalog_page) -> None:  # type: ignore[no-untyped-def]
    page, data, _requests, _errors, _tmp = catalog_page
    articles = page.locator("article.paragraph")
    assert articles.count() == len(data["paragraphs"])
    assert page.locator("article.paragraph h3").all_inner_texts() == \
        [f"{p['id']} {p['name']}" for p in data["paragraphs"]]
    assert page.locator("table.rules tbody tr").count() == sum(len(p["rules"]) for p in data["paragraphs"])
    assert page.locator(".badge.attest").count() == data["summary"]["attestationRequired"]
    assert page.locator(".badge.addressable").count() == data["summary"]["addressable"]
    assert page.locator(".badge.required").count() == data["summary"]["required"]
    assert page.locator("section h2").count() == len({p["safeguard"] for p in data["paragraphs"]})
    enc = page.locator('article[data-id="164.312(a)(2)(iv)"]')
    assert "Evidence:" in enc.inner_text()
    rows = enc.locator("table.rules tbody tr td:first-child").all_inner_texts()
    expected = next(p for p in data["paragraphs"] if p["id"] == "164.312(a)(2)(iv)")["rules"]
    assert rows == [r["id"] for r in expected]
    if data["proposedRule"]:
        assert page.locator("#proposed").is_visible() and "Addressable today" in enc.inner_text()
    else:
        assert page.locator("#proposed").count() == 0


def test_filters_work_without_a_server(catalog_page) -> None:  # type: ignore[no-untyped-def]
    page, data, _requests, _errors, _tmp = catalog_page
    page.fill("#filter", "KH-AUDLOG-")
    visible = page.locator("article.paragraph:visible")
    expected = [p["id"] for p in data["paragraphs"] if any(r["id"].startswith("KH-AUDLOG-") for r in p["rules"])]
    assert visible.count() == len(expected) > 0
    assert page.locator("#shown").inner_text() == f"{len(expected)} shown"
    page.fill("#filter", "")
    page.check("#only-attestation")
    assert page.locator("article.paragraph:visible").count() == data["summary"]["attestationRequired"]
    page.uncheck("#only-attestation")
    assert page.locator("article.paragraph:visible").count() == len(data["paragraphs"])
