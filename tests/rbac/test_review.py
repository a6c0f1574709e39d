"""Access review matrix, CSV/JSON/HTML rendering and diff against a previous review."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

from kubehipaa.engines.rbac import (
    RbacIndex,
    build_review,
    diff_reviews,
    load_review,
    request_attributes,
    user_info,
)
from kubehipaa.reports.rbac_review import review_csv, review_html
from tests.rbac.helpers import crb, crole, group, rb, role, rule, sa

OBJS = [
    role("app", "clinical", rule(["get"], ["secrets"], names=["app-tls"]), rule(["get", "list"], ["configmaps"])),
    rb("app", "clinical", "Role", "app", sa("app-sa")),
    crole("debug", rule(["create"], ["pods/exec"])),
    rb("debug", "clinical", "ClusterRole", "debug", group("support")),
    rb("elsewhere", "sandbox", "ClusterRole", "debug", group("devs")),
    crb("admins", "cluster-admin", group("ops")),
    rb("dangling", "clinical", "Role", "nope", group("x")),
]


def grants_of(review) -> set[tuple]:
    return {(g.namespace, g.subject_kind, g.subject_name, g.resource, g.verb, g.names) for g in review.grants}


def test_review_lists_effective_grants_with_names_and_paths() -> None:
    idx = RbacIndex.from_objects(OBJS)
    review = build_review(idx, ["clinical"])
    got = grants_of(review)
    assert ("clinical", "ServiceAccount", "app-sa", "secrets", "get", ("app-tls",)) in got
    assert ("clinical", "ServiceAccount", "app-sa", "configmaps", "list", ()) in got
    assert ("clinical", "Group", "support", "pods/exec", "create", ()) in got
    # a RoleBinding in another namespace does not reach the reviewed one
    assert not any(g[2] == "devs" for g in got)
    # cluster-admin (built in) reaches everything, cluster-scoped RBAC objects under (cluster)
    assert ("clinical", "Group", "ops", "secrets", "delete", ()) in got
    assert ("(cluster)", "Group", "ops", "clusterroles.rbac.authorization.k8s.io", "escalate", ()) in got
    # a RoleBinding never grants cluster-scoped objects
    assert not any(g[0] == "(cluster)" and g[1] != "Group" for g in got)
    assert any("nope" in n for n in review.notes)
    via = next(g.via for g in review.grants if g.subject_name == "support")
    assert 'RoleBinding "clinical/debug"' in via and "ClusterRole debug" in via and "rules[0]" in via


def test_review_agrees_with_authorizer_for_unnamed_requests() -> None:
    idx = RbacIndex.from_objects(OBJS)
    review = build_review(idx, ["clinical"])
    for g in review.grants:
        if g.names or g.namespace != "clinical" or g.subject_kind != "Group":
            continue
        attrs = request_attributes(g.verb, g.resource, "clinical", "x")
        assert idx.authorize(user_info("someone", [g.subject_name]), attrs).allowed, g


def test_csv_has_one_row_per_subject_and_resource() -> None:
    review = build_review(RbacIndex.from_objects(OBJS), ["clinical"])
    rows = list(csv.DictReader(io.StringIO(review_csv(review))))
    app_cm = [r for r in rows if r["subject_name"] == "app-sa" and r["resource"] == "configmaps"]
    assert len(app_cm) == 1 and app_cm[0]["verbs"] == "get list"
    tls = [r for r in rows if r["subject_name"] == "app-sa" and r["resource"] == "secrets"]
    assert tls[0]["resource_names"] == "app-tls"


def test_diff_against_previous_review_json() -> None:
    before = build_review(RbacIndex.from_objects(OBJS), ["clinical"])
    saved = before.to_dict()
    after_objs = [o for o in OBJS if o["metadata"]["name"] != "debug" or o["kind"] != "RoleBinding"]
    after_objs.append(rb("reader", "clinical", "ClusterRole", "debug", group("oncall")))
    after = build_review(RbacIndex.from_objects(after_objs), ["clinical"])
    diff = diff_reviews(load_review(saved), after.grants)
    assert {(g.subject_name, g.resource, g.verb) for g in diff.added} == {("oncall", "pods/exec", "create")}
    assert {(g.subject_name, g.resource, g.verb) for g in diff.removed} == {("support", "pods/exec", "create")}
    assert not diff_reviews(load_review(saved), before.grants).added


def test_load_review_rejects_other_json() -> None:
    try:
        load_review({"kind": "Something"}, "old.json")
    except ValueError as exc:
        assert "old.json" in str(exc)
    else:
        raise AssertionError("expected ValueError")


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._in = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self._in = tag == "td"

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._in:
            self.cells.append(data)


def test_html_is_escaped_and_lists_changes() -> None:
    objs = [*OBJS, rb("evil", "clinical", "ClusterRole", "debug", group("<script>alert(1)</script>"))]
    review = build_review(RbacIndex.from_objects(objs), ["clinical"])
    diff = diff_reviews(build_review(RbacIndex.from_objects(OBJS), ["clinical"]).grants, review.grants)
    html = review_html(review, diff)
    assert "<script>" not in html and "&lt;script&gt;" in html
    parser = _Cells()
    parser.feed(html)
    assert "added" in parser.cells and "app-tls" in parser.cells


def test_csv_neutralises_formulas() -> None:
    objs = [*OBJS, rb("evil", "clinical", "ClusterRole", "debug", group("=HYPERLINK(\"http://x\")"))]
    rows = list(csv.DictReader(io.StringIO(review_csv(build_review(RbacIndex.from_objects(objs), ["clinical"])))))
    names = {r["subject_name"] for r in rows}
    assert "'=HYPERLINK(\"http://x\")" in names and not any(n.startswith("=") for n in names)


def test_name_limited_grants_list_every_allowed_name() -> None:
    objs = [role("r", "clinical", rule(["get"], ["secrets"], names=["a"]), rule(["get"], ["secrets"], names=["b"])),
            rb("r", "clinical", "Role", "r", group("g"))]
    review = build_review(RbacIndex.from_objects(objs), ["clinical"])
    got = [g for g in review.grants if g.subject_name == "g" and g.resource == "secrets"]
    assert [g.names for g in got] == [("a", "b")]


def test_review_lists_rolebinding_granted_bind_of_clusterroles_in_its_namespace() -> None:
    # The API server asks `bind clusterroles edit` in clinical when someone writes a RoleBinding there, so a
    # RoleBinding in clinical allowing it is a grant of the reviewed namespace; cluster-wide ones stay under
    # (cluster), and other cluster-scoped requests never appear in a namespace.
    rbac_api = ["rbac.authorization.k8s.io"]
    idx = RbacIndex.from_objects([
        role("delegate", "clinical", rule(["bind"], ["clusterroles"], rbac_api, names=["edit"]),
             rule(["escalate"], ["clusterroles"], rbac_api)),
        rb("delegate", "clinical", "Role", "delegate", group("leads")),
        crole("binder", rule(["bind"], ["clusterroles"], rbac_api)), crb("binder", "binder", group("platform")),
    ])
    got = grants_of(build_review(idx, ["clinical"]))
    bind = "clusterroles.rbac.authorization.k8s.io"
    assert ("clinical", "Group", "leads", bind, "bind", ("edit",)) in got
    assert ("(cluster)", "Group", "platform", bind, "bind", ()) in got
    assert not any(g[0] == "clinical" and g[2] == "platform" for g in got)
    assert not any(g[0] == "clinical" and g[4] == "escalate" for g in got)
