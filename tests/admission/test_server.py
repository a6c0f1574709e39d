"""The webhook over TLS on loopback (uvicorn, a throwaway CA): real AdmissionReview bodies."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubehipaa.config import parse_config
from kubehipaa.pipelines.admission import Policy
from kubehipaa.server.admission import AdmissionSettings, create_app
from tests.admission.support import LABELS, pod, review
from tests.server.support import LoopbackServer, Tls, metric, throwaway_ca


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return throwaway_ca(tmp_path)


@pytest.fixture
def served(tls: Tls) -> Iterator[tuple[LoopbackServer, Any, httpx.Client]]:
    policy = Policy(parse_config({"phi": {"namespaces": ["clinical"]}}))
    app = create_app(policy, AdmissionSettings(max_body_bytes=64 * 1024))
    server = LoopbackServer(app, tls.cert, tls.key)
    client = httpx.Client(base_url=server.url, verify=tls.client_context(with_cert=False), timeout=10)
    try:
        yield server, app, client
    finally:
        client.close()
        server.close()


def post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post("/validate", content=orjson.dumps(body), headers={"Content-Type": "application/json"})


def test_allowed_denied_warned_dry_run_update_malformed_oversized_and_metrics(
        served: tuple[LoopbackServer, Any, httpx.Client], caplog: pytest.LogCaptureFixture) -> None:
    _server, _app, client = served
    caplog.set_level(logging.INFO, logger="kubehipaa.admission")

    r = post(client, review(pod(), uid="u-allowed"))
    assert r.status_code == 200
    assert r.json() == {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                        "response": {"uid": "u-allowed", "allowed": True}}

    r = post(client, review(pod(privileged=True), uid="u-denied"))
    resp = r.json()["response"]
    assert r.status_code == 200 and resp["uid"] == "u-denied" and resp["allowed"] is False
    assert resp["status"]["code"] == 403 and "KH-WL-001" in resp["status"]["message"]

    r = post(client, review(pod(privileged=True), uid="u-warned", namespace="dev"))
    resp = r.json()["response"]
    assert resp["allowed"] is True and any(w.startswith("KH-WL-001") for w in resp["warnings"])

    r = post(client, review(pod(privileged=True), uid="u-dry", dry_run=True))
    assert r.json()["response"]["allowed"] is False and r.json()["response"]["uid"] == "u-dry"

    old = pod(privileged=True)
    new = pod(privileged=True, labels={**LABELS, "release": "2"})
    r = post(client, review(new, operation="UPDATE", old=old, uid="u-update"))
    resp = r.json()["response"]
    assert resp["allowed"] is True and any(w.startswith("KH-WL-001") for w in resp["warnings"])

    for bad in (b"{not json", b'{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}',
                b'{"apiVersion": "v1", "kind": "Pod"}'):
        r = client.post("/validate", content=bad)
        assert r.status_code == 400
    r = client.post("/validate", content=b'{"a": "' + b"x" * (70 * 1024) + b'"}')
    assert r.status_code == 400

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap is enforced while reading
        for _ in range(100):
            yield b"x" * 1024

    r = client.post("/validate", content=chunks())
    assert r.status_code == 400
    assert post(client, review(pod(), uid="u-after")).json()["response"]["allowed"] is True  # still serving

    text = client.get("/metrics").text
    assert metric(text, "kubehipaa_admission_reviews_total", 'dry_run="false",operation="CREATE",verdict="allow"') == 2
    assert metric(text, "kubehipaa_admission_reviews_total", 'dry_run="false",operation="CREATE",verdict="deny"') == 1
    assert metric(text, "kubehipaa_admission_reviews_total", 'dry_run="true",operation="CREATE",verdict="deny"') == 1
    assert metric(text, "kubehipaa_admission_reviews_total", 'dry_run="false",operation="CREATE",verdict="warn"') == 1
    assert metric(text, "kubehipaa_admission_reviews_total", 'dry_run="false",operation="UPDATE",verdict="warn"') == 1
    assert metric(text, "kubehipaa_admission_decisions_total", 'rule_id="KH-WL-001",verdict="deny"') == 2
    assert metric(text, "kubehipaa_admission_invalid_requests_total", 'reason="malformed"') == 1
    assert metric(text, "kubehipaa_admission_invalid_requests_total", 'reason="not_admission_review"') == 2
    assert metric(text, "kubehipaa_admission_invalid_requests_total", 'reason="oversized"') == 2
    assert metric(text, "kubehipaa_admission_requests_total", 'code="400"') == 5
    assert metric(text, "kubehipaa_admission_requests_total", 'code="200"') == 6
    assert metric(text, "kubehipaa_admission_review_seconds_count") == 11

    reviews = [r for r in caplog.records if r.getMessage() == "review"]
    assert {r.fields["uid"] for r in reviews} >= {"u-allowed", "u-denied", "u-dry", "u-update"}  # type: ignore[attr-defined]


def test_health_and_readiness(served: tuple[LoopbackServer, Any, httpx.Client]) -> None:
    _server, app, client = served
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    app.draining = True
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_plain_http_is_refused(served: tuple[LoopbackServer, Any, httpx.Client]) -> None:
    server, _app, _client = served
    with pytest.raises(httpx.HTTPError):
        httpx.post(f"http://127.0.0.1:{server.port}/validate", content=b"{}", timeout=5)


def test_logs_never_carry_the_object(served: tuple[LoopbackServer, Any, httpx.Client],
                                     caplog: pytest.LogCaptureFixture) -> None:
    from kubehipaa.server.admission import JsonLogFormatter

    _server, _app, client = served
    caplog.set_level(logging.DEBUG)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
              "stringData": {"password": "Sup3rSecretPassw0rd!"}, "data": {"token": "c2VjcmV0LXRva2VuLXZhbHVl"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "patients"},
          "data": {"mrn": "MRN 123-45-6789 John Doe"}}
    for obj in (secret, cm):
        assert post(client, review(obj)).status_code == 200
    client.post("/validate", content=b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", '
                                     b'"request": {"object": {"data": {"password": "Sup3rSecretPassw0rd!"}}}}')
    formatter = JsonLogFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert any('"kind":"Secret"' in line for line in lines)
    text = "\n".join(lines)
    for value in ("Sup3rSecretPassw0rd", "c2VjcmV0LXRva2VuLXZhbHVl", "123-45-6789", "John Doe"):
        assert value not in text
    for line in lines:
        json.loads(line)


def test_a_large_review_does_not_stall_small_ones(tls: Tls) -> None:
    import threading
    import time

    policy = Policy(parse_config({"phi": {"namespaces": ["clinical"]}}))
    app = create_app(policy)
    server = LoopbackServer(app, tls.cert, tls.key)
    ctx = tls.client_context(with_cert=False)
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
           "data": {f"k{i}": "lorem ipsum dolor sit amet 555-12-3456 " * 25 for i in range(3000)}}
    big_done: list[float] = []

    def post_big() -> None:
        with httpx.Client(base_url=server.url, verify=ctx, timeout=60) as c:
            t = time.perf_counter()
            assert post(c, review(big)).status_code == 200
            big_done.append(time.perf_counter() - t)

    try:
        thread = threading.Thread(target=post_big)
        thread.start()
        time.sleep(0.3)  # the big body is being reviewed
        with httpx.Client(base_url=server.url, verify=ctx, timeout=30) as c:
            small = []
            for _ in range(5):
                t = time.perf_counter()
                assert post(c, review(pod())).json()["response"]["allowed"] is True
                small.append(time.perf_counter() - t)
        thread.join(60)
        assert big_done and max(small) < big_done[0] / 2, (small, big_done)
    finally:
        server.close()
