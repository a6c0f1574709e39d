"""The access-review HTML in a real browser (Debian's chromium driven by Playwright): the page an auditor opens
loads on its own, shows one table row per matrix row and per change, runs nothing that came from a manifest,
and shows no secret."""

from __future__ import annotations

import pytest

from kubehipaa.engines.rbac import RbacIndex, ReviewResult, build_review, diff_reviews
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.rbac_review import ACCESS_REVIEW
from tests.rbac.helpers import crole, group, rb, role, rule, sa, user
from tests.reports.browser import opened

XSS = "<img src=x onerror=\"document.title='pwned'\">"
SECRETS = ("hunter2", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")
BEFORE = [
    role("app", "clinical", rule(["get"], ["secrets"], names=["app-tls"]), rule(["get", "list"], ["configmaps"])),
    rb("app", "clinical", "Role", "app", sa("app-sa")),
    crole("debug", rule(["create"], ["pods/exec"])),
    rb("debug", "clinical", "ClusterRole", "debug", group("support")),
]
AFTER = [
    *BEFORE[:3],  # the support group lost exec; three subjects gained it
    rb("oncall", "clinical", "ClusterRole", "debug", group(XSS), user("postgres://admin:hunter2@db"),
       sa("ghp_abcdefghijklmnopqrstuvwxyz0123456789")),
]


@pytest.fixture(scope="module")
def page_of_review(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    review = build_review(RbacIndex.from_objects(AFTER), ["clinical"])
    diff = diff_reviews(build_review(RbacIndex.from_objects(BEFORE), ["clinical"]).grants, review.grants)
    html = ACCESS_REVIEW.render(ReviewResult(review, diff), "html", RenderOptions(width=100))
    path = tmp_path_factory.mktemp("review") / "review.html"
    path.write_text(html, encoding="utf-8")
    with opened(path) as (page, requests):
        yield page, review, diff, requests


def _cells(page, selector: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [row.locator("td").all_inner_texts() for row in page.locator(selector).all()]


def test_review_page_loads_on_its_own(page_of_review) -> None:  # type: ignore[no-untyped-def]
    page, _review, _diff, requests = page_of_review
    assert page.title() == "Access review: clinical"
    assert page.locator("h1").inner_text() == "Access review: clinical"
    assert all(url.startswith("file://") for url in requests), requests  # no external assets


def test_review_page_has_a_row_per_matrix_row_and_change(page_of_review) -> None:  # type: ignore[no-untyped-def]
    page, review, diff, _ = page_of_review
    matrix = _cells(page, "#matrix tbody tr")
    assert len(matrix) == len(review.matrix())
    # namespace, subject, resource, verbs, names, granted by
    tls = [r for r in matrix if r[1] == "ServiceAccount clinical/app-sa" and r[2] == "secrets"]
    assert [(r[0], r[3], r[4]) for r in tls] == [("clinical", "get", "app-tls")]
    assert 'RoleBinding "clinical/app" -> Role app rules[0]' in tls[0][5]
    cm = next(r for r in matrix if r[1] == "ServiceAccount clinical/app-sa" and r[2] == "configmaps")
    assert cm[3] == "get list"
    added = _cells(page, "#changes tbody tr.added")
    removed = _cells(page, "#changes tbody tr.removed")
    assert (len(added), len(removed)) == (len(diff.added), len(diff.removed)) == (3, 1)
    assert removed[0][:5] == ["removed", "clinical", "Group support", "pods/exec", "create"]
    assert {r[2] for r in added} == {f"Group {XSS}", "User postgres://admin:<redacted:secret>@db",
                                     "ServiceAccount clinical/<redacted:secret>"}


def test_review_page_runs_nothing_from_the_input_and_shows_no_secret(page_of_review) -> None:  # type: ignore[no-untyped-def]
    page, *_ = page_of_review
    assert page.locator("img").count() == 0 and page.locator("script").count() == 0
    assert page.title() != "pwned"
    assert XSS in page.locator("#changes").inner_text()  # shown as text
    text = page.locator("body").inner_text()
    source = page.content()
    for secret in SECRETS:
        assert secret not in text and secret not in source
    assert "<redacted:secret>" in text
