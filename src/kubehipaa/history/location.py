"""Which database the history lives in: `--history-url`, else $KUBEHIPAA_HISTORY_URL, else the config's
`history:` block, else a SQLite file under the user's data directory.

A URL is shown to people only through `display_url`, which masks a password (kubehipaa.redaction), so a
`postgresql://user:secret@host/db` given on the command line never reaches a terminal, a log or a report.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from kubehipaa.errors import KubehipaaError
from kubehipaa.redaction import redact_uri

ENV_URL = "KUBEHIPAA_HISTORY_URL"
DB_NAME = "history.sqlite3"
SCHEMES = ("sqlite", "postgresql", "postgres")


class HistoryError(KubehipaaError):
    """A history database that cannot be opened, read or written: one line, exit 2."""


class HistoryMissing(HistoryError):
    """A SQLite history file that does not exist yet (nothing was ever saved there)."""


@dataclass(frozen=True, slots=True)
class HistoryLocation:
    url: str
    """The SQLAlchemy URL (sqlite:///ABS-PATH or postgresql+psycopg://...)."""
    origin: str
    """Where it was chosen: --history-url, $KUBEHIPAA_HISTORY_URL, the config file, or the default."""

    @property
    def display(self) -> str:
        return display_url(self.url)

    @property
    def backend(self) -> str:
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"


def display_url(url: str) -> str:
    """The URL as it may be printed (as the user writes it, without our driver name): password and query
    masked."""
    return redact_uri(url.replace("postgresql+psycopg://", "postgresql://", 1))


def data_dir() -> Path:
    """The user's data directory for kubehipaa (platformdirs when installed, else the XDG / OS rules)."""
    try:
        import platformdirs
    except ImportError:
        platformdirs = None  # type: ignore[assignment]
    if platformdirs is not None:
        return Path(platformdirs.user_data_dir("kubehipaa", appauthor=False))
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "kubehipaa"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "kubehipaa"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # XDG Base Directory spec: a relative $XDG_DATA_HOME is invalid and must be ignored.
    base_dir = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base_dir / "kubehipaa"


def normalise(url_or_path: str, relative_to: Path | None = None) -> str:
    """A SQLAlchemy URL from what a user wrote: a URL with a known scheme, or a plain file path (SQLite).

    `postgresql://` and `postgres://` use psycopg 3; `sqlite:///rel` and a plain path are made absolute
    (relative to `relative_to`, the config file's directory, when given).
    """
    text = url_or_path.strip()
    if not text:
        raise HistoryError("the history URL is empty")
    scheme, sep, rest = text.partition("://")
    if not sep:
        return _sqlite(Path(text).expanduser(), relative_to)
    base = scheme.split("+", 1)[0].lower()
    if base not in SCHEMES:
        raise HistoryError(f"history URL {display_url(text)}: unsupported scheme {scheme!r} "
                           "(use sqlite:///PATH or postgresql://USER@HOST/DB)")
    if base == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        if not path or path == ":memory:":
            raise HistoryError("history URL sqlite:// needs a file path (an in-memory history keeps nothing)")
        return _sqlite(Path(path).expanduser(), relative_to)
    return "postgresql+psycopg://" + rest


def _sqlite(path: Path, relative_to: Path | None) -> str:
    if not path.is_absolute():
        path = (relative_to or Path.cwd()) / path
    return f"sqlite:///{path}"


def locate(cli_url: str | None, config_url: str | None = None, config_path: str | None = None,
           config_source: str | None = None) -> HistoryLocation:
    """The history database to use, by precedence (see the module docstring)."""
    if cli_url:
        return HistoryLocation(normalise(cli_url), "--history-url")
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return HistoryLocation(normalise(env), f"${ENV_URL}")
    where = Path(config_source).parent if config_source and config_source != "<config>" else None
    if config_url:
        return HistoryLocation(normalise(config_url, where), f"{config_source or 'config'} history.url")
    if config_path:
        return HistoryLocation(_sqlite(Path(config_path).expanduser(), where),
                               f"{config_source or 'config'} history.path")
    return HistoryLocation(_sqlite(data_dir() / DB_NAME, None), "default")
