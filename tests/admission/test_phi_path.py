"""PHI namespaces by label (issue 18 req 2): the API server sends namespaces matching `phi.selector` to
`/validate/phi` (the VWC `generate webhook` writes); an AdmissionReview carries no namespace labels, so the
path is what tells the server. Over TLS on loopback, as the API server calls it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubehipaa.config import parse_config
from kubehipaa.pipelines.admission import Policy
from kubehipaa.pipelines.admission import review as decide
from kubehipaa.server.admission import create_app
from tests.admission.support import pod, review
from tests.server.support import LoopbackServer, Tls, metric, throwaway_ca

WILDCARD_ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": {"name": "ops-everything"},
                 "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}


def _serve(tmp_path: Path, config: dict[str, Any]) -> tuple[LoopbackServer, httpx.Client]:
    tls: Tls = throwaway_ca(tmp_path)
    server = LoopbackServer(create_app(Policy(parse_config(config))), tls.cert, tls.key)
    return server, httpx.Client(base_url=server.url, verify=tls.client_context(with_cert=False), timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[httpx.Client]:
    server, client = _serve(tmp_path, {})  # no phi.namespaces: "records" is PHI only by its labels
    try:
        yield client
    finally:
        client.close()
        server.close()


def _post(client: httpx.Client, path: str, body: Any) -> dict[str, Any]:
    r = client.post(path, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()["response"]
    return answer


def test_the_same_pod_is_denied_on_the_phi_path_and_warned_on_the_other(
        served: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kubehipaa.admission")
    body = review(pod(privileged=True), namespace="records", uid="u-1")
    phi = _post(served, "/validate/phi", body)
    other = _post(served, "/validate", body)
    assert phi["uid"] == other["uid"] == "u-1"
    assert phi["allowed"] is False and phi["status"]["code"] == 403
    assert "KH-WL-001" in phi["status"]["message"]
    # the PSS rule that reads PHI-ness sees the namespace as PHI too (as a scan with the labelled Namespace would)
    assert "KH-PSS-001" in phi["status"]["message"]
    assert other["allowed"] is True and "status" not in other
    assert any(w.startswith("KH-WL-001") for w in other["warnings"])
    assert not any(w.startswith("KH-PSS-001") for w in other["warnings"])
    # a clean pod passes on both
    for path in ("/validate/phi", "/validate"):
        assert _post(served, path, review(pod(), namespace="records")) == {"uid": review(pod())["request"]["uid"],
                                                                            "allowed": True}
    text = served.get("/metrics").text
    assert metric(text, "kubehipaa_admission_decisions_total", 'rule_id="KH-WL-001",verdict="deny"') == 1
    assert metric(text, "kubehipaa_admission_decisions_total", 'rule_id="KH-WL-001",verdict="warn"') == 1
    logged = [r.fields for r in caplog.records if r.getMessage() == "review"]  # type: ignore[attr-defined]
    assert [f["phiPath"] for f in logged if f["uid"] == "u-1"] == [True, False]


def test_phi_path_is_refused_like_validate_for_bad_bodies(served: httpx.Client) -> None:
    for bad in (b"{not json", b'{"apiVersion": "v1", "kind": "Pod"}'):
        assert served.post("/validate/phi", content=bad).status_code == 400
    assert served.get("/validate/phi").status_code == 405
    assert _post(served, "/validate/phi", review(pod()))["allowed"] is True  # still serving


@pytest.mark.parametrize("cluster_scoped, allowed", [("phi", False), ("other", True)])
def test_cluster_scoped_objects_follow_the_config_on_either_path(tmp_path: Path, cluster_scoped: str,
                                                                 allowed: bool) -> None:
    """A ClusterRole has no namespace to be PHI: `admission.clusterScoped` decides, whichever path it came on."""
    server, client = _serve(tmp_path, {"admission": {"clusterScoped": cluster_scoped}})
    try:
        for path in ("/validate/phi", "/validate"):
            answer = _post(client, path, review(WILDCARD_ROLE, namespace=""))
            assert answer["allowed"] is allowed, (path, answer)
            assert "KH-RBAC-001" in (answer.get("status", {}).get("message", "") + " ".join(answer.get("warnings", [])))
    finally:
        client.close()
        server.close()


def test_review_hint() -> None:
    """None: the config decides (by name); True: PHI; False: the non-PHI table even for a named namespace.
    A Namespace object is its own namespace."""
    policy = Policy(parse_config({"phi": {"namespaces": ["clinical"]}}))
    today = dt.date(2026, 12, 7)
    bad = pod(privileged=True)
    assert decide(review(bad, namespace="records"), policy, today=today).allowed is True
    assert decide(review(bad, namespace="records"), policy, today=today, namespace_is_phi=True).allowed is False
    assert decide(review(bad, namespace="clinical"), policy, today=today).allowed is False
    assert decide(review(bad, namespace="clinical"), policy, today=today, namespace_is_phi=False).allowed is True
    # the hint does not leak: the next request without it is judged by the config again
    assert decide(review(bad, namespace="records"), policy, today=today).allowed is True
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "records"}}  # no Pod Security labels
    unlabelled = decide(review(ns, namespace="records"), policy, today=today)
    assert unlabelled.allowed is True and "KH-NS-001" not in unlabelled.warned
    hinted = decide(review(ns, namespace="records"), policy, today=today, namespace_is_phi=True)
    assert hinted.allowed is False and "KH-NS-001" in hinted.denied
