"""Redaction of exec command lines before they reach a report.

An exec command can carry a password (`mysql -pS3cret`), a bearer token or PHI typed by an operator; the
reviewer needs to see *what* was run, not the secret. Values are replaced by `***`.
"""

from __future__ import annotations

import re

_SECRET_WORD = re.compile(r"pass|secret|token|key|credential|auth|bearer", re.IGNORECASE)
_TOKENISH = re.compile(r"^[A-Za-z0-9+/_\-.=]{32,}$")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
MASK = "***"


def redact_command(cmd: list[str]) -> list[str]:
    """Mask secret-looking arguments: `--password=x`, the value after `--token`, `KEY=value` with a secret
    word in KEY, `-pVALUE` of database clients, long token-like strings and SSN-shaped numbers."""
    out: list[str] = []
    hide_next = False
    for arg in cmd:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        if arg.startswith("-") and "=" in arg and _SECRET_WORD.search(arg.split("=", 1)[0]):
            out.append(arg.split("=", 1)[0] + "=" + MASK)
        elif arg.startswith("--") and _SECRET_WORD.search(arg):
            out.append(arg)
            hide_next = True
        elif arg.startswith("-p") and len(arg) > 2 and not arg.startswith("--"):
            out.append("-p" + MASK)
        elif "=" in arg and not arg.startswith("-") and _SECRET_WORD.search(arg.split("=", 1)[0]):
            out.append(arg.split("=", 1)[0] + "=" + MASK)
        elif _TOKENISH.match(arg) and not arg.startswith("/"):
            out.append(MASK)
        else:
            out.append(_SSN.sub(MASK, arg))
    return out
