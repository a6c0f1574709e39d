"""RBAC reports (issue 13 req 4): every text answer fits 80 and 120 columns without splitting a name, every
format of every RBAC command masks secret-looking names, and clean content is what the engine returned."""

from __future__ import annotations

import html
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.rbac import (
    RbacIndex,
    ReviewResult,
    build_escalation_graph,
    build_review,
    builtin_risk_rules,
    diff_reviews,
    evaluate_risks,
    request_attributes,
    unused_permissions,
    user_info,
)
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.rbac import (
    CAN_I,
    ESCALATION,
    RISKS,
    WHO_CAN,
    CanIAnswer,
    EscalationAnswer,
    RiskAnswer,
    WhoCanAnswer,
)
from kubehipaa.reports.rbac_review import ACCESS_REVIEW
from kubehipaa.reports.rbac_usage import UnusedReportRenderer
from kubehipaa.sources.files import load_paths
from tests.rbac.helpers import crb, crole, group, rb, role, rule, sa, user
from tests.rbac_usage.test_rbac_usage import ev

ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------ long names at 80 and 120 columns

NS = "clinical-records-production"
SA_NAME = "ehr-integration-worker-service-account"
ROLE = "patient-records-api-backend-reader"
CROLE = "clinical-platform-rbac-administrators"
GROUP = "oncall-clinical-platform-engineers"
USER = "jane.doe-clinical-support@hospital.example"
RBAC_RESOURCE = "clusterrolebindings.rbac.authorization.k8s.io"
PHI_NS = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": NS, "labels": {"kubehipaa.io/phi": "true"}}}
LONG_OBJS = [
    PHI_NS,
    role(ROLE, NS, rule(["get", "list", "watch"], ["secrets", "configmaps", "persistentvolumeclaims"]),
         rule(["delete"], ["secrets"], names=["records-db-credentials"]), rule(["create"], ["serviceaccounts/token"])),
    rb(f"{ROLE}-binding", NS, "Role", ROLE, sa(SA_NAME), group(GROUP), user(USER)),
    crole(CROLE, rule(["*"], ["clusterrolebindings", "rolebindings"], ["rbac.authorization.k8s.io"]),
          rule(["create"], ["pods"])),
    crb(f"{CROLE}-binding", CROLE, group(GROUP)),
]


def _index() -> RbacIndex:
    return RbacIndex.from_objects(LONG_OBJS)


def _review(with_changes: bool) -> ReviewResult:
    idx = _index()
    review = build_review(idx, [NS])
    if not with_changes:
        return ReviewResult(review)
    before = build_review(RbacIndex.from_objects(LONG_OBJS[:3]), [NS])
    return ReviewResult(review, diff_reviews(before.grants, review.grants))


def _unused(width: int) -> str:
    events = [ev("get", "secrets", ns=NS, name="records-db-credentials",
                 user=f"system:serviceaccount:{NS}:{SA_NAME}", groups=["system:serviceaccounts"])]
    report = unused_permissions(_index(), events)
    return UnusedReportRenderer().render(report, "text", RenderOptions(width=width))


def _texts(width: int) -> dict[str, str]:
    opts = RenderOptions(width=width)
    idx = _index()
    who = request_attributes("get", "secrets", NS)
    u = user_info(f"system:serviceaccount:{NS}:{SA_NAME}")
    graph = build_escalation_graph(idx, {NS})
    rules = list(builtin_risk_rules())
    return {
        "can-i": CAN_I.render(CanIAnswer(u, who, idx.authorize(u, who)), "text", opts),
        "who-can": WHO_CAN.render(WhoCanAnswer(who, idx.who_can(who)), "text", opts),
        "escalation": ESCALATION.render(EscalationAnswer(graph, graph.shortest_paths(), frozenset({NS})),
                                        "text", opts),
        "risks": RISKS.render(RiskAnswer(rules, evaluate_risks(idx, {NS}, rules)), "text", opts),
        "review": ACCESS_REVIEW.render(_review(False), "table", opts),
        "review-changes": ACCESS_REVIEW.render(_review(True), "table", opts),
        "unused": _unused(width),
    }


RB = f"{NS}/{ROLE}-binding"
CRB = f"{CROLE}-binding"
NS_SA = f"{NS}/{SA_NAME}"
SHOWN = {  # what each answer shows, each of which must be whole on one line
    "can-i": (ROLE, RB, NS),
    "who-can": (NS_SA, GROUP, USER, RB, ROLE),
    "escalation": (NS_SA, GROUP, USER, NS),
    "risks": (NS_SA, GROUP, USER, NS, "rolebindings.rbac.authorization.k8s.io"),
    "review": (NS, NS_SA, GROUP, USER, RBAC_RESOURCE, "persistentvolumeclaims", "serviceaccounts/token",
               "records-db-credentials", ROLE, RB, CROLE, CRB),
    "review-changes": (CROLE, CRB, RBAC_RESOURCE, GROUP),
    "unused": (NS_SA, ROLE, RB, "serviceaccounts/token"),
}


@pytest.mark.parametrize("width", [80, 120])
def test_every_rbac_text_answer_fits_the_width_and_keeps_names_whole(width: int) -> None:
    shown = _texts(width)
    assert shown.keys() == SHOWN.keys()
    for command, text in shown.items():
        lines = text.splitlines()
        too_long = [line for line in lines if len(line) > width]
        assert not too_long, f"{command} at {width}:\n" + "\n".join(too_long)
        for name in SHOWN[command]:
            assert any(name in line for line in lines), f"{name} missing or split in {command} at {width}:\n{text}"
    assert shown["can-i"].startswith("yes\n")
    assert "added" in shown["review-changes"]


def test_names_are_printed_as_written_not_as_rich_markup() -> None:
    # A name from a manifest is text: `[bold]` must not vanish, `[/]` must not raise a MarkupError.
    idx = RbacIndex.from_objects([role("r", "ns", rule(["get"], ["secrets"])),
                                  rb("r", "ns", "Role", "r", group("[bold]ops[/bold]"), user("[/]"))])
    attrs = request_attributes("get", "secrets", "ns")
    text = WHO_CAN.render(WhoCanAnswer(attrs, idx.who_can(attrs)), "text", RenderOptions(width=120))
    assert "[bold]ops[/bold]" in text and "[/]" in text


# ------------------------------------------------------------------ secrets masked in every format

TOKEN_SA = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
DSN_USER = "postgres://admin:hunter2@db"
AWS_NAME = "AKIAIOSFODNN7EXAMPLE"
SECRETS = ("hunter2", TOKEN_SA, AWS_NAME)
MASK = "<redacted:secret>"
SECRET_RBAC = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "clinical", "labels": {"kubehipaa.io/phi": "true"}}},
    role("reader", "clinical", rule(["get", "list"], ["secrets"]), rule(["get"], ["configmaps"], names=[AWS_NAME])),
    rb("reader", "clinical", "Role", "reader", sa(TOKEN_SA), user(DSN_USER)),
]


@pytest.fixture(scope="module")
def secret_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("secret-rbac")
    rbac = d / "rbac.yaml"
    rbac.write_bytes(b"\n---\n".join(orjson.dumps(o) for o in SECRET_RBAC) + b"\n")
    log = d / "audit.log"
    log.write_bytes(orjson.dumps(ev("get", "secrets", ns="clinical", name="db", user=DSN_USER,
                                    groups=["system:authenticated"]).to_dict()) + b"\n")
    previous = d / "previous.json"
    previous.write_text('{"kind": "KubehipaaAccessReview", "version": 1, "grants": []}')
    return {"rbac": str(rbac), "log": str(log), "previous": str(previous)}


SECRET_COMMANDS = [
    (["can-i", "get", "secrets", "-n", "clinical", "--as", DSN_USER, "{rbac}"], ("text", "json")),
    (["who-can", "get", "secrets", "-n", "clinical", "{rbac}"], ("text", "json")),
    (["review", "-n", "clinical", "{rbac}"], ("csv", "json", "html", "table")),
    (["review", "-n", "clinical", "--since", "{previous}", "{rbac}"], ("csv", "json", "html", "table")),
    (["escalation", "{rbac}"], ("text", "json")),
    (["risks", "{rbac}"], ("text", "json")),
    (["unused", "{rbac}", "{log}"], ("text", "json", "csv")),
    (["suggest", "--user", DSN_USER, "{log}"], ("yaml", "json")),
]


@pytest.mark.parametrize(("argv", "formats"), SECRET_COMMANDS, ids=lambda v: "-".join(v) if isinstance(v, tuple)
                         else " ".join(a for a in v if not a.startswith("{") and a != DSN_USER))
def test_secret_looking_names_are_masked_in_every_format(secret_inputs: dict[str, str], argv: list[str],
                                                         formats: tuple[str, ...]) -> None:
    runner = CliRunner()
    for fmt in formats:
        args = ["rbac", *(a.format(**secret_inputs) for a in argv), "--format", fmt]
        r = runner.invoke(app, args)
        assert r.exit_code in (0, 1), (args, r.output)
        for secret in SECRETS:
            assert secret not in r.output, (fmt, args, r.output)
        # the row is there, masked, not dropped
        assert MASK in (html.unescape(r.stdout) if fmt == "html" else r.stdout), (fmt, args, r.stdout)


# ------------------------------------------------------------------ clean content is the engine's answer


def test_json_answers_are_the_engine_dicts_when_nothing_is_secret() -> None:
    """Redaction is a no-op on ordinary RBAC content: the JSON of each answer over the insecure example is
    exactly what the engine returned (key order aside)."""
    loaded = load_paths([str(ROOT / "examples" / "clinic-insecure")])
    idx = RbacIndex.from_objects(loaded.objects)
    phi = {"clinical"}
    opts = RenderOptions(width=100)
    review = ReviewResult(build_review(idx, sorted(phi)))
    assert orjson.loads(ACCESS_REVIEW.render(review, "json", opts)) == review.to_dict()
    attrs = request_attributes("get", "secrets", "clinical")
    entries = idx.who_can(attrs)
    assert orjson.loads(WHO_CAN.render(WhoCanAnswer(attrs, entries), "json", opts))["subjects"] == \
        [e.to_dict() for e in entries]
    graph = build_escalation_graph(idx, phi)
    paths = graph.shortest_paths()
    data = orjson.loads(ESCALATION.render(EscalationAnswer(graph, paths, frozenset(phi)), "json", opts))
    assert paths and data["paths"] == [p.to_dict() for p in paths]
    assert data["edges"] == [e.to_dict() for e in graph.edges]
    rules = list(builtin_risk_rules())
    hits = evaluate_risks(idx, phi, rules)
    assert hits and orjson.loads(RISKS.render(RiskAnswer(rules, hits), "json", opts))["findings"] == \
        [h.to_dict() for h in hits]


def test_review_table_shows_at_most_max_rows_and_says_how_many_more() -> None:
    result = _review(True)
    rows, changes = len(result.review.matrix()), len(result.changes.added) if result.changes else 0
    text = ACCESS_REVIEW.render(result, "table", RenderOptions(width=120, max_rows=2))
    assert f"… {rows - 2} more row(s) (use --format csv, json or html)" in text
    assert f"… {changes - 2} more change(s)" in text
    shown = [line for line in text.splitlines() if line.startswith("namespace:")]  # rows are stacked at 120
    assert len(shown) == 2 + 2
    full = ACCESS_REVIEW.render(result, "table", RenderOptions(width=120))
    assert "more row(s)" not in full and "more change(s)" not in full
    assert len([line for line in full.splitlines() if line.startswith("namespace:")]) == rows + changes
