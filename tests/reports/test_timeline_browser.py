"""The audit timeline HTML in a real browser (Debian's chromium driven by Playwright): the page an incident
responder hands an auditor loads on its own, shows one row per request of the JSON timeline in time order,
runs nothing that came from the log, and shows no secret from an exec command."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.reports.browser import opened

XSS = "<img src=x onerror=\"document.title='pwned'\">"
SECRET = "hunter2"


def _event(n: int, user: str, verb: str, resource: str, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"a-{n}",
        "stage": "ResponseComplete", "verb": verb, "user": {"username": user}, "sourceIPs": ["10.1.2.3"],
        "userAgent": "kubectl/v1.30.0", "responseStatus": {"code": 200},
        "objectRef": {"resource": resource, "namespace": "clinical", "name": "db", "apiVersion": "v1"},
        "requestURI": f"/api/v1/namespaces/clinical/{resource}/db",
        "requestReceivedTimestamp": f"2026-11-27T10:0{n}:00.000000Z",
        "stageTimestamp": f"2026-11-27T10:0{n}:00.100000Z",
    }
    ev.update(extra)
    return ev


@pytest.fixture(scope="module")
def timeline_page(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("timeline")
    log = tmp / "audit.log"
    exec_uri = ("/api/v1/namespaces/clinical/pods/db/exec?command=psql&command=postgres%3A%2F%2Fadmin%3A"
                f"{SECRET}%40db&container=db&stdin=true")
    events = [
        _event(1, "jane@hospital.org", "get", "secrets"),
        _event(2, XSS, "list", "secrets"),
        _event(3, "jane@hospital.org", "create", "pods", requestURI=exec_uri,
               objectRef={"resource": "pods", "subresource": "exec", "namespace": "clinical", "name": "db",
                          "apiVersion": "v1"}),
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    runner = CliRunner()
    as_json = runner.invoke(app, ["audit", "timeline", str(log), "-f", "json"])
    assert as_json.exit_code == 0, as_json.output
    html = tmp / "timeline.html"
    res = runner.invoke(app, ["audit", "timeline", str(log), "-f", "html", "-o", str(html)])
    assert res.exit_code == 0, res.output
    with opened(html) as (page, requests):
        yield page, json.loads(as_json.stdout), requests, html.read_text(encoding="utf-8")


def test_timeline_page_loads_on_its_own(timeline_page) -> None:  # type: ignore[no-untyped-def]
    page, _doc, requests, _source = timeline_page
    assert page.title() == "kubehipaa audit timeline"
    assert page.locator("h1").inner_text() == "Audit timeline"
    assert all(url.startswith("file://") for url in requests), requests


def test_timeline_page_has_a_row_per_request_in_time_order(timeline_page) -> None:  # type: ignore[no-untyped-def]
    page, doc, _requests, _source = timeline_page
    rows = page.locator("#timeline tbody tr").all()
    assert len(rows) == len(doc["entries"]) == 3
    ids = [row.get_attribute("data-audit-id") for row in rows]
    assert ids == [e["auditID"] for e in doc["entries"]] == ["a-1", "a-2", "a-3"]
    times = [row.locator("td").first.inner_text() for row in rows]
    assert times == sorted(times)
    assert "exec" in rows[2].inner_text()


def test_timeline_page_runs_nothing_from_the_log_and_shows_no_secret(timeline_page) -> None:  # type: ignore[no-untyped-def]
    page, _doc, _requests, source = timeline_page
    assert page.locator("img").count() == 0 and page.locator("script").count() == 0
    assert page.title() != "pwned"
    assert XSS in page.locator("#timeline").inner_text()  # shown as text
    assert SECRET not in page.locator("body").inner_text() and SECRET not in source
