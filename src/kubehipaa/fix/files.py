"""The one place `fix` reads and writes files: split a YAML stream into documents, round-trip only the
documents that change, splice their text back, write atomically.

Why document-level splicing: ruamel.yaml's round trip keeps comments, key order and quoting, but re-emitting a
whole file would still normalise things a user did not ask us to touch (indentation of other documents, a
`--- # note` separator). Untouched documents therefore keep their exact bytes; a file in which nothing changed
is never rewritten at all.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from kubehipaa.sources.atomic import replace_file

_SEPARATOR = re.compile(r"---(?:[ \t]+#.*)?[ \t]*(?:\r?\n)?\Z")
"""A document separator line we can keep verbatim: `---`, optionally followed by a comment."""
_OPAQUE_SEPARATOR = re.compile(r"---[ \t]")
"""`--- <content>` (a tag or a value on the separator line): such a document is left alone."""


class FileProblem(Exception):
    """A file (or one document of it) that cannot be edited safely; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _yaml() -> YAML:
    y = YAML()  # round-trip
    y.preserve_quotes = True
    y.width = 1 << 16  # never re-wrap a long line
    return y


@dataclass(slots=True)
class Segment:
    """One document of a stream: the separator line before it (or ''), its body text and where the body
    starts (1-based line). `data` is the round-trip tree once parsed; `changed` marks it for re-emission."""

    header: str
    body: str
    first_line: int
    opaque: bool = False
    trailer: str = ""
    """A `...` document-end line and what follows it up to the next `---`: kept verbatim (ruamel drops it)."""
    data: Any = None
    parsed: bool = False
    changed: bool = False


@dataclass(slots=True)
class SourceFile:
    """A manifest file split into documents; `text` is the original content."""

    path: Path
    text: str
    segments: list[Segment] = field(default_factory=list)
    bom: str = ""

    def segment_at(self, line: int) -> Segment | None:
        """The document whose body holds `line`."""
        found = None
        for seg in self.segments:
            if seg.first_line <= line:
                found = seg
        return found

    def mapping_at(self, line: int, kind: str, name: str) -> CommentedMap:
        """The object mapping that starts at `line` (a document root, or an item of a `kind: List`)."""
        seg = self.segment_at(line)
        if seg is None or seg.opaque:
            raise FileProblem("the document cannot be edited (content on its `---` line)", line)
        root = parse(seg)
        candidates: list[Any] = [root]
        if isinstance(root, CommentedMap) and isinstance(root.get("items"), CommentedSeq):
            candidates.extend(root["items"])
        for cand in candidates:
            if isinstance(cand, CommentedMap) and seg.first_line + cand.lc.line == line:
                meta = cand.get("metadata")
                cand_name = meta.get("name") or meta.get("generateName") if isinstance(meta, dict) else None
                cand_name = str(cand_name or "")
                # a Kustomize base: the scanned name may carry the overlay's namePrefix / nameSuffix
                if cand.get("kind") == kind and (cand_name == name or (cand_name and cand_name in name)):
                    return cand
        raise FileProblem(f"no {kind} {name} starts at this line (was the file changed since the scan?)", line)

    def render(self) -> str:
        """The file's new text: changed documents re-emitted, every other byte as read."""
        return self.bom + "".join(seg.header + (emit(seg) if seg.changed else seg.body) + seg.trailer
                                  for seg in self.segments)


def split(path: Path, text: str) -> SourceFile:
    """Split `text` at its `---` lines (a separator is a line starting with `---` at column 0)."""
    out = SourceFile(path, text)
    if text.startswith("\ufeff"):
        out.bom, text = "\ufeff", text[1:]
    header = ""
    body: list[str] = []
    first = 1
    lineno = 0
    for line in text.splitlines(keepends=True):
        lineno += 1
        if line.startswith("---") and (line[3:4] in ("", "\n", "\r", " ", "\t")):
            if header or body:
                out.segments.append(_segment(header, body, first))
            header, body, first = line, [], lineno + 1
            continue
        body.append(line)
    out.segments.append(_segment(header, body, first))
    return out


def _segment(header: str, lines: list[str], first: int) -> Segment:
    end = next((i for i, line in enumerate(lines) if line.rstrip("\r\n") == "..." or line.startswith("... ")), None)
    if end is None:
        end = _trailing_comments(lines)
    body, trailer = lines[:end], lines[end:]
    return Segment(header, "".join(body), first, opaque=_opaque(header), trailer="".join(trailer))


def _trailing_comments(lines: list[str]) -> int:
    """Where the comment block at the end of a document starts (len(lines) if none): column-0 comments after
    the last content line, usually about the next document. ruamel would attach them to the last key, and a
    key added to an outer mapping would then be written below them; kept verbatim after the document instead.
    Only column-0 lines: an indented `#` line may be content of a block scalar."""
    start = len(lines)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if line.startswith("#"):
            start = i
        elif line.strip():
            break
    # the blank lines before the comments go with them, unless a keep-chomping block scalar (`|+`, `>+`)
    # may own them
    if start < len(lines) and not any(re.search(r"[|>][0-9]?\+", line) for line in lines[:start]):
        while start > 0 and not lines[start - 1].strip():
            start -= 1
    return start


def _opaque(header: str) -> bool:
    return bool(header) and not _SEPARATOR.match(header) and bool(_OPAQUE_SEPARATOR.match(header))


def read(path: Path) -> SourceFile:
    """Read a manifest file for editing; JSON and non-UTF-8 files are refused (one line, the file kept)."""
    if path.suffix.lower() == ".json":
        raise FileProblem("JSON manifests are not edited (fix keeps YAML layout only)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise FileProblem("not UTF-8 text") from None
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror or exc}") from None
    if "\r\n" in text:
        raise FileProblem("CRLF line endings are not edited (the document would change its line endings)")
    return split(path, text)


def parse(seg: Segment) -> Any:
    """The round-trip tree of one document (parsed once)."""
    if not seg.parsed:
        if any(line.startswith("%") for line in seg.body.splitlines()):
            raise FileProblem("a document with a YAML directive is not edited", seg.first_line)
        try:
            seg.data = _yaml().load(seg.body)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = seg.first_line + mark.line if mark is not None else seg.first_line
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise FileProblem(f"malformed YAML: {reason}", line) from None
        seg.parsed = True
    return seg.data


def _indent(body: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as this document writes them, so the re-emitted
    document keeps its style (`containers:\\n- name` vs `containers:\\n  - name`)."""
    mapping: int | None = None
    offset: int | None = None
    prev: tuple[int, str] | None = None
    for line in body.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        ind = len(line) - len(stripped)
        stripped = re.sub(r"\s+#.*$", "", stripped)
        if prev is not None and prev[1].rstrip().endswith(":") and not prev[1].startswith("- "):
            if stripped.startswith("-") and offset is None:
                offset = ind - prev[0]
            elif not stripped.startswith("-") and ind > prev[0] and mapping is None:
                mapping = ind - prev[0]
        prev = (ind, stripped)
        if mapping is not None and offset is not None:
            break
    m = mapping or 2
    o = max(offset or 0, 0)
    return m, max(o + 2, m), o


def emit(seg: Segment) -> str:
    y = _yaml()
    m, s, o = _indent(seg.body)
    y.indent(mapping=m, sequence=s, offset=o)
    buf = io.StringIO()
    y.dump(seg.data, buf)
    text = buf.getvalue()
    if not seg.body.endswith("\n") and text.endswith("\n"):
        text = text[:-1]
    return text


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` by `text` (temp file in the same directory, then rename), keeping the file's mode. A
    symlink is followed: its target is replaced and the link stays a link."""
    replace_file(path, text.encode("utf-8"))


def create_new(path: Path, text: str) -> None:
    """Write a new file; never overwrite one that appeared meanwhile."""
    if path.exists():
        raise FileProblem("exists already; not overwritten")
    write_atomic(path, text)


def dump_plain(docs: list[Any]) -> str:
    """New documents (plain data) as block-style YAML, `---` between them."""
    y = _yaml()
    y.indent(mapping=2, sequence=2, offset=0)
    buf = io.StringIO()
    y.dump_all(docs, buf)
    return buf.getvalue()
