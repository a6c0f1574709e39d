"""Errors that reach the user as one line and exit code 2.

Anything the user can fix (bad YAML, unknown config key, unreachable cluster) is raised as a
`KubehipaaError` whose message already names the file and line or the object, so the CLI can print it
without a traceback.
"""

from __future__ import annotations


class KubehipaaError(Exception):
    """A user-facing error; `str(err)` is one line."""


class InputError(KubehipaaError):
    """Bad input: a file, a document or an object that cannot be used."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        if self.file is None:
            return ""
        if self.line is None:
            return f"{self.file}: "
        return f"{self.file}:{self.line}: "


class ConfigError(KubehipaaError):
    """`.kubehipaa.yaml` or a command-line setting is invalid."""
