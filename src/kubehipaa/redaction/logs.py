"""Log records: redacted where they are made, so every handler and formatter writes safe text."""

from __future__ import annotations

import logging
from typing import Any

from kubehipaa.redaction.text import redact_text

_INSTALLED = False


def install_log_redaction() -> None:
    """Redact every log record where it is made (all loggers, uvicorn's access log included: it prints
    request paths with their query strings). Idempotent. See `redact_record`."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """A log record whose message, arguments and traceback carry no secret.

    The arguments are redacted one by one when that is enough, so formatters that read them (uvicorn's access
    log unpacks method, path, status) keep working; when a secret spans the format string and an argument
    (`"password=%s"`), the whole message is replaced by its redacted text.
    """
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself when the record is emitted
        return record
    if record.exc_info and not record.exc_text:
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
    safe = redact_text(message)
    if safe == message:
        return record
    args = record.args
    if isinstance(args, tuple) and args:
        record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in args)
        try:
            again = record.getMessage()
        except Exception:
            again = None
        if again is not None and redact_text(again) == again:
            return record
    record.msg, record.args = safe, None
    return record
