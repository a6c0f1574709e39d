"""`redact_text` returns RFC 3339 times and UUIDs untouched without running the rules (a fast path taken for
every alert's time and auditID): the full pass must agree on every such value, or the fast path would hide a
redaction."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from kubehipaa.redaction import redact_text
from kubehipaa.redaction.text import _PLAIN_VALUE, _redact


def _times(rng: random.Random, n: int) -> list[str]:
    out = []
    start = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    for _ in range(n):
        t = start + dt.timedelta(seconds=rng.randint(0, 315_000_000_000))
        frac = "" if rng.random() < 0.2 else "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 9)))
        zone = rng.choice(("Z", "+05:30", "-08:00", "+14:00"))
        out.append(t.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + frac + zone)
    return out


def _uuids(rng: random.Random, n: int) -> list[str]:
    digits = "0123456789"
    out = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]
    out += [str(uuid.UUID(int=rng.getrandbits(128))).upper() for _ in range(n)]
    out += ["-".join("".join(rng.choice(digits) for _ in range(k)) for k in (8, 4, 4, 4, 12)) for _ in range(n)]
    return out


def test_times_and_uuids_need_no_redaction() -> None:
    rng = random.Random(16)
    values = _times(rng, 20_000) + _uuids(rng, 10_000)
    for v in values:
        assert _PLAIN_VALUE.fullmatch(v), v
        assert _redact(v, False, None) == v, v
        assert redact_text(v) == v


def test_other_text_still_goes_through_the_rules() -> None:
    assert _PLAIN_VALUE.fullmatch("2026-11-27T10:00:00Z password=hunter2") is None
    assert "hunter2" not in redact_text("2026-11-27T10:00:00Z password=hunter2")
    assert redact_text("123-45-6789") != "123-45-6789"  # an SSN is not a time or a UUID
