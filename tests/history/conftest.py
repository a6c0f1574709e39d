"""The history suite runs against SQLite and against a real PostgreSQL server.

PostgreSQL: $KUBEHIPAA_TEST_PG_URL (`.ci/run` starts a server with `.ci/postgres start` and exports it).
Without it the PostgreSQL cases skip, saying so; with $KUBEHIPAA_TEST_REQUIRE_PG set (`.ci/run` sets it)
they fail instead, so CI cannot pass without having run them. Each test gets its own PostgreSQL schema (search_path), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

PG_ENV = "KUBEHIPAA_TEST_PG_URL"
BACKENDS = ("sqlite", "postgresql")


def pg_base_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        reason = f"no PostgreSQL server for the history tests (start one: export {PG_ENV}=\"$(.ci/postgres start)\")"
        if os.environ.get("KUBEHIPAA_TEST_REQUIRE_PG"):
            pytest.fail(reason + "; CI must run them")
        pytest.skip(reason)
    return url


@pytest.fixture(autouse=True)
def _no_ambient_history(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never touch the user's real history: the default location is under tmp_path."""
    monkeypatch.delenv("KUBEHIPAA_HISTORY_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (so each test starts from an empty database)."""
    import psycopg

    base = pg_base_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty history database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))
