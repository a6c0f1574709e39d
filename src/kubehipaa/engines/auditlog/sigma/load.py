"""Rule texts to parsed rules, through pySigma: YAML documents, `SigmaCollection`s, references resolved.

No file I/O: the texts and the names they are reported under come from the caller (`sources.sigma_files`
reads rule files within the input bounds). Every problem is one `InputError` naming the rule's file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError, SigmaRuleLocation

from kubehipaa.errors import InputError


def _one_line(err: BaseException, file: str | None = None) -> str:
    """pySigma's message on one line, without the " in <file>" it appends (the error already names the file)."""
    text = " ".join(str(err).split())
    if file and text.endswith(f" in {file}"):
        text = text[: -len(f" in {file}")]
    return text


def _rule_file(rule: Any) -> str:
    src = getattr(rule, "source", None)
    path = getattr(src, "path", None)
    return str(path) if path is not None else "<string>"


def _resolve(collections: list[SigmaCollection]) -> SigmaCollection:
    """Merge per-file collections: applies Sigma filters and resolves correlation references across files."""
    try:
        return SigmaCollection.merge(collections, resolve_references=True)
    except SigmaError as exc:
        src = getattr(exc, "source", None)
        where = str(getattr(src, "path", "")) or None
        raise InputError(f"Sigma rules: {_one_line(exc)}", file=where) from None


def _parse(text: str, source: str) -> SigmaCollection:
    """One rule text (one or more YAML documents) as a collection; `source` names it in errors and in the
    rules' `source` (which `_rule_file` reads back), "<string>" for text that came from no file."""
    src = SigmaRuleLocation(Path(source)) if source != "<string>" else None
    try:
        docs = list(yaml.safe_load_all(text))
    except RecursionError:
        raise InputError("not a Sigma rule: nested too deeply", file=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=source,
                         line=line) from None
    if any(d is not None and not isinstance(d, dict) for d in docs):
        raise InputError("a Sigma rule document must be a mapping", file=source)
    try:
        return SigmaCollection.from_dicts(
            docs, collect_errors=True, source=src, collect_filters=True, resolve_references=False
        )
    except SigmaError as exc:
        raise InputError(f"invalid Sigma rule: {_one_line(exc)}", file=source) from None
    except RecursionError:
        raise InputError("invalid Sigma rule: nested too deeply", file=source) from None


def parse_texts(texts: Iterable[tuple[str, str]]) -> SigmaCollection:
    """(name, YAML text) pairs (one or more documents each) as one collection: Sigma filters applied and
    correlation references resolved across all of them."""
    return _resolve([_parse(text, name) for name, text in texts])
