"""`history trend --format html` in real headless Chromium (tests/reports/browser.py): the page loads on its
own (no request but itself), draws one SVG line per safeguard with a point per saved scan, its table carries
the same numbers as the JSON trend, and nothing logs a console error. A screenshot is kept as an artifact
($KUBEHIPAA_TEST_ARTIFACTS, else the test's tmp dir)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.history import HistoryLocation, HistoryStore, normalise
from tests.history.helpers import NAMESPACE, deployment, write
from tests.reports.browser import opened

runner = CliRunner()


def test_trend_html_renders_the_saved_scans(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, "a.yaml": deployment("ehr")})
    for extra in ({}, {"b.yaml": deployment("portal", host_pid=True)}, {"c.yaml": deployment("billing")}):
        write(src, extra)
        res = runner.invoke(app, ["scan", str(src), "--save", "--history-url", url, "--fail-on", "never"])
        assert res.exit_code == 0, res.stderr
    as_json = json.loads(runner.invoke(app, ["history", "trend", "--history-url", url, "-f", "json"]).stdout)
    html = tmp_path / "trend.html"
    res = runner.invoke(app, ["history", "trend", "--history-url", url, "-f", "html", "-o", str(html)])
    assert res.exit_code == 0, res.stderr
    with opened(html) as (page, requests):
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.reload()
        assert requests and all(r == html.as_uri() for r in requests)
        assert page.title() == "kubehipaa: findings per HIPAA safeguard over time"
        guards = [g["standard"] for g in as_json["safeguards"]]
        lines = page.locator("svg.trend-chart polyline.series")
        assert lines.count() == len(guards) > 1
        assert [lines.nth(i).get_attribute("data-safeguard") for i in range(lines.count())] == guards
        for i in range(lines.count()):
            assert len((lines.nth(i).get_attribute("points") or "").split()) == 3
        assert page.locator("svg.trend-chart").bounding_box()["width"] > 600  # type: ignore[index]
        for g in as_json["safeguards"]:
            cells = page.locator(f'#trend-table tr[data-safeguard="{g["standard"]}"] td').all_inner_texts()
            assert [int(c) for c in cells] == g["counts"]
        totals = page.locator("#trend-table tr.total td").all_inner_texts()
        assert [int(c) for c in totals] == [s["findings"] for s in as_json["scans"]]
        assert int(totals[0]) < int(totals[-1])
        page.set_viewport_size({"width": 1400, "height": 900})
        shots = Path(os.environ.get("KUBEHIPAA_TEST_ARTIFACTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        shot = shots / "history-trend.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 5000
        assert errors == []


def test_trend_html_with_no_scans_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    HistoryStore.open(HistoryLocation(normalise(url), "test")).close()  # an empty history
    html = tmp_path / "trend.html"
    res = runner.invoke(app, ["history", "trend", "--history-url", url, "-f", "html", "-o", str(html)])
    assert res.exit_code == 0, res.stderr
    with opened(html) as (page, _requests):
        assert "No saved scans yet" in page.locator("p.empty").inner_text()
