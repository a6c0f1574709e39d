"""Property: no generated secret or PHI value leaves kubehipaa, in any output format, and no mask tells a length.

Generated passwords (letters, digits and punctuation, quotes and backslash included), JWTs, GitHub tokens, AWS
keys, SSNs (dashed and bare), MRNs and dates of birth are placed where the security probe found them:

- manifests (`scan`, formats table, json, sarif, junit): env values, container args, annotations, ConfigMap
  data, Secret stringData, an object name;
- audit events (`audit analyze` table/json/sarif, `audit timeline` table/json/html, `audit serve`'s
  alerts.jsonl through the receiver's in-process API): exec commands of many CLIs, requestURI query strings,
  user agents, proxy paths, request and response bodies.

Every run's stdout, stderr and output file is searched for each secret (as written, URL-, JSON- and
HTML-escaped; any 8-character piece of it) and for shapes (`**!@#$%^&*()#**`). A second property renders the same
inputs with every secret made longer: the outputs must be identical, so no mask, count or layout reveals a
length.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shlex
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote, urlencode

import orjson
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from typer.testing import CliRunner

from kubehipaa.cli.main import app

from .secrets import Secrets, leaks, longer, secret_bundles

SCAN_FORMATS = ("table", "json", "sarif", "junit", "oscal", "html")
ANALYZE_FORMATS = ("table", "json", "sarif")
TIMELINE_FORMATS = ("table", "json", "html")
PROPERTY = settings(max_examples=4, deadline=None, derandomize=True,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # one example takes ~1 s: no shrinking
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------------------------------------- manifests


def manifests(s: Secrets) -> str:
    ns = "clinical"
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubehipaa.io/phi": "true"}}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "ehr-config", "namespace": ns,
                      "annotations": {"example.com/patient-ssn": s.ssn, "example.com/note": f"dob {s.dob} mrn {s.mrn}",
                                      "example.com/token": s.github}},
         "data": {"password": s.password, "ssn": s.ssn_bare, "db_url": f"postgresql://app:{quote(s.password2, safe='')}"
                  f"@db:5432/ehr", "api_token": s.jwt, "patient": f"Jane Roe SSN {s.ssn} DOB {s.dob} MRN {s.mrn}",
                  "aws_access_key_id": s.aws}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": f"patient-{s.ssn}", "namespace": ns}, "data": {"x": "y"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
         "stringData": {"password": s.password2, "token": s.jwt}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "ehr", "namespace": ns, "annotations": {"example.com/dob": s.dob}},
         "spec": {"selector": {"matchLabels": {"app": "ehr"}}, "template": {
             "metadata": {"labels": {"app": "ehr"}, "annotations": {"example.com/mrn": s.mrn}},
             "spec": {"containers": [{
                 "name": "ehr", "image": "registry.example.com/ehr:1.2.3",
                 "args": [f"--password={s.password}", "--token", s.github, f"--db=postgresql://u:"
                          f"{quote(s.password2, safe='')}@db/ehr", f"--patient-ssn={s.ssn}"],
                 "env": [{"name": "DB_PASSWORD", "value": s.password},
                         {"name": "PATIENT_SSN", "value": s.ssn_bare},
                         {"name": "API_TOKEN", "value": s.jwt},
                         {"name": "AWS_ACCESS_KEY_ID", "value": s.aws},
                         {"name": "DATABASE_URL", "value": f"mysql://root:{quote(s.password2, safe='')}@db/ehr"},
                         {"name": "NOTE", "value": f"patient dob {s.dob}, mrn {s.mrn}"}],
             }]}}}},
    ]
    return yaml.safe_dump_all(docs, sort_keys=False, width=10**9)


# -------------------------------------------------------------------------------------------------- events

def _make_event(n: int, verb: str, uri: str, *, resource: str | None = None, sub: str | None = None, ns: str | None = "clinical",
           name: str | None = None, user: str = "jane@hospital.org", groups: list[str] | None = None, code: int = 200,
           ua: str = "kubectl/v1.30.2 (linux/amd64)", ip: str = "10.1.2.3", body: Any = None, response: Any = None,
           minute: int = 0) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": f"id-{n}",
        "stage": "ResponseComplete", "verb": verb, "requestURI": uri,
        "user": {"username": user, "groups": groups or ["system:authenticated"]},
        "sourceIPs": [ip], "userAgent": ua, "responseStatus": {"code": code},
        "requestReceivedTimestamp": f"2026-11-27T10:{minute:02d}:{n % 60:02d}.000000Z",
        "stageTimestamp": f"2026-11-27T10:{minute:02d}:{n % 60:02d}.100000Z",
        "annotations": {"authorization.k8s.io/decision": "allow" if code < 400 else "forbid"},
    }
    if resource is not None:
        ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
        if ns:
            ref["namespace"] = ns
        if name:
            ref["name"] = name
        if sub:
            ref["subresource"] = sub
        ev["objectRef"] = ref
    if body is not None:
        ev["requestObject"] = body
    if response is not None:
        ev["responseObject"] = response
    return ev


def exec_commands(s: Secrets) -> list[list[str]]:
    pw, pw2 = s.password, s.password2
    return [
        ["curl", "-u", f"admin:{pw}", "https://ehr.local/api"],
        ["redis-cli", "-h", "cache", "-a", pw, "PING"],
        ["mysql", "-uroot", f"-p{pw}", "-e", f"select * from patients where patient_ssn='{s.ssn_bare}'"],
        ["openssl", "enc", "-aes-256-cbc", "-k", pw, "-in", "/data/export.csv"],
        ["openssl", "pkcs12", "-export", "-passout", f"pass:{pw2}"],
        ["htpasswd", "-b", "/etc/nginx/.htpasswd", "admin", pw],
        ["sh", "-c", f"echo {shlex.quote(pw)} | vault login -"],
        ["curl", "-H", f"Authorization: Bearer {s.jwt}", "https://ehr.local/api"],
        ["psql", f"postgresql://app:{quote(pw2, safe='')}@db:5432/ehr", "-c",
         f"select * from patients where mrn='{s.mrn}' or dob='{s.dob}' or ssn='{s.ssn}'"],
        ["vault", "login", f"hvs.{s.github[4:]}"],
        ["sh", "-c", f"PGPASSWORD={shlex.quote(pw)} psql -h db -c \"select 1\""],
        ["kubectl", f"--token={s.jwt}", "get", "secrets"],
        ["sshpass", "-p", pw, "ssh", "db"],
        ["curl", f"https://api.local/export?token={s.github}&ssn={s.ssn}"],
        ["sh", "-c", f"curl -H 'X-Api-Key: {s.github}' -d 'password={quote(pw2, safe='')}' https://x/login"],
        ["mongosh", "-u", "root", "-p", pw2],
        ["aws", "configure", "set", "aws_access_key_id", s.aws],
        ["env", f"DB_PASSWORD={pw}", "python3", "app.py"],
    ]


def audit_events(s: Secrets) -> list[dict[str, Any]]:
    pw, pw2 = s.password, s.password2
    evs: list[dict[str, Any]] = []
    seq = iter(range(10**6))

    def _event(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return _make_event(next(seq), *args, **kwargs)

    for cmd in exec_commands(s):
        uri = "/api/v1/namespaces/clinical/pods/ehr-0/exec?" + urlencode([("command", c) for c in cmd] +
                                                                         [("container", "ehr"), ("stdout", "true")])
        evs.append(_event("create", uri, resource="pods", sub="exec", name="ehr-0", code=101))
    # the same command in a PodExecOptions body (the API server logs it when the policy says Request)
    evs.append(_event("create", "/api/v1/namespaces/clinical/pods/ehr-0/exec", resource="pods", sub="exec",
                      name="ehr-0", code=101, body={"kind": "PodExecOptions", "command": exec_commands(s)[0]}))
    query = urlencode({"token": s.github, "password": pw, "ssn": s.ssn})
    anon = {"user": "system:anonymous", "groups": ["system:unauthenticated"], "ip": "203.0.113.7"}
    evs.append(_event("get", f"/api/v1/namespaces/clinical/configmaps?{query}", resource="configmaps", **anon))
    evs.append(_event("get", f"/version?{query}", ns=None, **anon))
    evs.append(_event("get", f"/api/v1/secrets?access_token={s.jwt}", resource="secrets", ns=None, code=401,
                      user="", groups=[]))
    for ua in (f"backup-tool/2.1 token={pw}", f"curl/8.5 (Bearer {s.jwt})", f"ehr-sync patient {s.ssn}",
               f"sync/1.0 password={pw2}"):
        evs.append(_event("get", "/api/v1/namespaces/clinical/secrets/db", resource="secrets", name="db", ua=ua,
                          minute=2 + len(evs) % 50))
    evs.append(_event("get", f"/api/v1/namespaces/clinical/services/ehr:80/proxy/patients/{s.ssn}/{s.mrn}"
                      f"?q={quote(pw, safe='')}", resource="services", sub="proxy", name="ehr:80"))
    evs.append(_event("get", f"/api/v1/nodes/node-1/proxy/logs/{s.ssn}", resource="nodes", sub="proxy",
                      ns=None, name="node-1"))
    cm = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "patients", "namespace": "clinical"},
          "data": {"password": pw, "ssn": s.ssn_bare, "note": f"DOB {s.dob} MRN {s.mrn} SSN {s.ssn}",
                   "token": s.jwt}}
    evs.append(_event("create", "/api/v1/namespaces/clinical/configmaps", resource="configmaps", name="patients",
                      body=cm, code=201))
    evs.append(_event("get", "/api/v1/namespaces/clinical/configmaps/patients", resource="configmaps",
                      name="patients", response=cm))
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "dbg", "namespace": "kube-system"},
           "spec": {"hostPID": True, "containers": [{
               "name": "c", "image": "alpine", "args": [f"--password={pw}"],
               "env": [{"name": "DB_PASSWORD", "value": pw2}], "securityContext": {"privileged": True}}]}}
    evs.append(_event("create", "/api/v1/namespaces/kube-system/pods", resource="pods", ns="kube-system",
                      name="dbg", body=pod, code=201))
    evs.append(_event("create", f"/api/v1/namespaces/clinical/serviceaccounts/app/token?x={pw}",
                      resource="serviceaccounts", sub="token", name="app", code=201))
    # failures from one public address: the windowed rules put the user agent and URI in their messages
    for i in range(12):
        evs.append(_event("get", f"/api/v1/namespaces/clinical/secrets/s{i}?token={s.github}", resource="secrets",
                          name=f"s{i}", code=403, ip="198.51.100.9", user="mallory", ua=f"scan/1 key={pw}",
                          minute=30))
    return evs


# ------------------------------------------------------------------------------------------------- running

_runner = CliRunner()


def _invoke(args: list[str], out: Path) -> str:
    result = _runner.invoke(app, [*args, "-o", str(out)], catch_exceptions=True)
    text = result.stdout + (result.stderr if result.stderr_bytes is not None else "")
    if out.exists():
        text += out.read_text(encoding="utf-8")
        out.unlink()
    assert result.exit_code in (0, 1), (args, result.exit_code, text[-2000:], result.exception)
    return text


@contextmanager
def _captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def serve_alerts(events: list[dict[str, Any]]) -> str:
    """alerts.jsonl (and the log) of `audit serve` for these events, posted as two EventList batches."""
    from fastapi.testclient import TestClient

    from kubehipaa.server.audit_webhook import AuditReceiver, JsonLinesSink, WebhookSettings, create_app

    stream = io.BytesIO()
    receiver = AuditReceiver(WebhookSettings(flush_idle_s=0.1), JsonLinesSink(stream))
    half = len(events) // 2
    with _captured_logs() as logs, TestClient(create_app(receiver)) as client:
        for batch in (events[:half], events[half:]):
            body = orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": batch})
            r = client.post("/audit", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 200, r.text
        assert receiver.wait_idle(20)
    return stream.getvalue().decode() + logs.getvalue()


def all_outputs(s: Secrets, folder: Path) -> dict[str, str]:
    """Every output of every command over inputs carrying `s`, by command and format."""
    (folder / "m").mkdir(exist_ok=True)
    (folder / "m" / "manifests.yaml").write_text(manifests(s), encoding="utf-8")
    events = audit_events(s)
    log = folder / "audit.log"
    # a malformed line that carries a secret after the syntax error (its byte offset is reported, not its text)
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + b'{"broken" 1, "token": "' +
                    s.password.encode() + b'"\n')
    out = folder / "out"
    outputs: dict[str, str] = {}
    with mock.patch.dict("os.environ", {"SOURCE_DATE_EPOCH": "1767225600"}), \
            mock.patch("kubehipaa.cli.audit._now", lambda: "2026-12-01T00:00:00Z"):
        for fmt in SCAN_FORMATS:
            outputs[f"scan {fmt}"] = _invoke(["scan", str(folder / "m"), "-f", fmt], out)
        for fmt in ANALYZE_FORMATS:
            outputs[f"analyze {fmt}"] = _invoke(["audit", "analyze", str(log), "-f", fmt], out)
        for fmt in TIMELINE_FORMATS:
            outputs[f"timeline {fmt}"] = _invoke(["audit", "timeline", str(log), "-f", fmt], out)
    outputs["serve alerts.jsonl"] = serve_alerts(events)
    return outputs


def _assert_no_leak(outputs: dict[str, str], s: Secrets) -> None:
    problems = {name: found for name, text in outputs.items() if (found := leaks(text, s.values()))}
    assert not problems, json.dumps(problems, indent=1)[:4000]


@settings(PROPERTY)
@given(secret_bundles())
def test_no_generated_secret_or_phi_leaves_any_output(s: Secrets) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outputs = all_outputs(s, Path(tmp))
    _assert_no_leak(outputs, s)
    # and the inputs did reach the outputs: the alerts and findings that carry them were raised
    for rule in ("KH-AUDLOG-016", "KH-AUDLOG-020", "KH-AUDLOG-030", "KH-AUDLOG-031", "KH-AUDLOG-080"):
        assert rule in outputs["analyze json"] and rule in outputs["serve alerts.jsonl"], rule
    for check in ("KH-SEC-001", "KH-SEC-002", "KH-SEC-003", "KH-SEC-004", "KH-SEC-006", "KH-SEC-007"):
        assert check in outputs["scan json"], check
    assert "<redacted:query>" in outputs["analyze json"] and "<redacted:path>" in outputs["timeline json"]


@settings(PROPERTY)
@given(secret_bundles())
def test_outputs_do_not_depend_on_the_length_of_a_secret(s: Secrets) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first = all_outputs(s, Path(tmp))
        second = all_outputs(longer(s), Path(tmp))
    for name in first:
        assert _content(name, first[name]) == _content(name, second[name]), name


_DIGEST = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def _content(name: str, text: str) -> str:
    """Each input's SHA-256 and size follow the input's bytes by design (a longer secret is a longer file):
    OSCAL records them (and derives its UUIDs from them), the HTML report lists them; everything else must not."""
    if name == "scan html":
        return re.sub(r'<table id="inputs">.*?</table>', "", text, flags=re.S)
    if name != "scan oscal":
        return text
    text = re.sub(r"An input the scan read \(\d+ bytes\)", "An input the scan read", text)
    text = re.sub(r'("name": "bytes",\s*"value": )"\d+"', r"\1", text)
    return _DIGEST.sub("<digest>", text)
