"""The one YAML loader of the tool: libyaml composes, Kubernetes' rules decide what the values are.

Kubernetes reads a manifest with sigs.k8s.io/yaml (go-yaml v2 into Go values, then JSON); PyYAML's
YAML 1.1 constructors disagree with it on real manifests (`- =` made PyYAML give up on a whole file,
`12:30` became 750, `y` stayed a string). So libyaml (PyYAML's C parser) only composes the node tree,
which keeps line numbers for evidence, and every scalar is typed by `go_scalars`, the port of go-yaml's
rules; collections, merge keys (`<<`), aliases and mapping keys follow go-yaml and `YAMLToJSON` too.
docs/yaml.md lists the rules and the few deliberate differences (`!!python/*` tags are refused).

Why compose-then-build instead of a constructor: building Python data from the nodes ourselves is about
twice as fast as PyYAML's generic constructor, and the resolved tag of a plain scalar depends only on
its text, so a memo replaces the resolver's work for the values manifests repeat endlessly.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson
import yaml
from yaml.composer import Composer, ComposerError
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent

from kubehipaa.sources import go_scalars
from kubehipaa.sources.go_scalars import GoDecodeError

try:  # libyaml is the fast path; fall back so the tool still works where it is missing.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["MAX_DEPTH", "Document", "DocumentError", "iter_documents", "join_key_path", "load_single"]

MAX_DEPTH = 254
"""The deepest nesting (mappings and sequences inside each other) a document may have to be read.

Kubernetes' decoders go further (go-yaml and encoding/json stop at 10,000 levels), but no manifest comes
near: the deepest real documents, CRDs with embedded pod templates, stay under 100 levels, and ordinary
objects under 20. A fixed cap, enforced while the document is built, means every reader after the loader
(checks, engines, reports) can walk an object without running out of Python's stack, and every object
can be written back by orjson, whose limit this is (255 levels fail). A deeper document is skipped, named
with its line, and the run ends with exit 2: its content was not analysed.
"""

TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep (Kubernetes reads up to 10,000 levels, kubehipaa up to {MAX_DEPTH})"

_STR = go_scalars.STR
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = go_scalars.MERGE
_BINARY = go_scalars.BINARY
_PYTHON = "tag:yaml.org,2002:python"

_SCALAR = yaml.ScalarNode
_MAPPING = yaml.MappingNode
_SEQUENCE = yaml.SequenceNode


class DocumentError(Exception):
    """A document Kubernetes would refuse; `line` is 1-based. The message never quotes a value."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(slots=True)
class Document:
    """One document of a stream: its data and line, or the reason it was not read (`error`).

    `node` is the composed root node (for the lines of List items). `error` is the problem line to show
    for a file, `reason` the bare cause. An error with `fatal` set is a syntax error: nothing after it in
    the stream could be read. `unread` marks a document Kubernetes would read but we could not (nested too
    deep): unlike a document Kubernetes refuses, its content is missing from the answers. `warnings` are
    (line, message) pairs about a document that was read: duplicate mapping keys. `item_lines`: the lines
    of a List's items when the fast loader (`fast_yaml`, which has no node) found them.
    """

    data: Any = None
    line: int | None = None
    node: Any = None
    error: str | None = None
    reason: str | None = None
    fatal: bool = False
    unread: bool = False
    warnings: Sequence[tuple[int, str]] = ()
    item_lines: list[int] | None = None


class _Plain:
    """A plain scalar resolved to a JSON value: `value`, and `key` (the text `YAMLToJSON` makes of it as a
    mapping key) or `key_error` where it cannot be a key (null, uint64)."""

    __slots__ = ("key", "key_error", "value")

    def __init__(self, value: Any, key: str | None, key_error: str | None) -> None:
        self.value = value
        self.key = key
        self.key_error = key_error


class _PlainInvalid:
    """A plain scalar JSON cannot hold as a value (`.inf`, `.nan`); it is still a valid mapping key."""

    __slots__ = ("error", "key")

    def __init__(self, error: str, key: str) -> None:
        self.error = error
        self.key = key


_RESOLVE_CACHE: dict[str, Any] = {}
_RESOLVE_CACHE_MAX = 200_000


def _plain_tag(text: str) -> Any:
    """The "tag" our composer gives an untagged plain scalar: `_STR` when Kubernetes reads it as a string
    (by far the most common case, built without a lookup), `_MERGE` for `<<`, else a `_Plain`."""
    gv = go_scalars.resolve_plain(text)
    if gv.kind == "string":
        return _MERGE if text == "<<" else _STR
    try:
        key: str | None = gv.json_key()
        key_error = None
    except GoDecodeError as exc:
        key, key_error = None, str(exc)
    try:
        value = gv.json_value()
    except GoDecodeError as exc:
        assert key is not None
        return _PlainInvalid(str(exc), key)
    return _Plain(value, key, key_error)


class _FastLoader(_Loader):  # type: ignore[misc,valid-type]
    """libyaml's composer with Kubernetes' typing of plain scalars, memoised per text.

    The composer asks the resolver for the tag of every plain scalar; the answer depends only on the text,
    so a dict lookup replaces go-yaml's rules after the first time. The "tag" returned for a typed scalar
    is a `_Plain` holding its value, so building needs no second lookup.

    Without path resolvers (PyYAML registers none on its safe loaders, and we add none) the tag of any
    other node is the default tag of its kind, and `descend_resolver`/`ascend_resolver`, which libyaml's
    composer calls around every node, do nothing: they are replaced by C callables that accept the same
    arguments, saving two Python calls per node.
    """

    descend_resolver = slice  # type: ignore[assignment]  # called as (parent, index); result ignored
    ascend_resolver = tuple  # type: ignore[assignment]  # called with no argument; result ignored

    k8s_text = ""  # the text the marks index (without a leading BOM, which libyaml does not count)
    k8s_alias_at: frozenset[tuple[int, int]] | set[tuple[int, int]] = frozenset()
    k8s_duplicates: list[tuple[Any, Any, Any]] = []  # set afresh for each document by _documents

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is _SCALAR:
            if not implicit[0]:
                return _STR  # quoted or block scalar without a tag: always a string
            tag = _RESOLVE_CACHE.get(value)
            if tag is None:
                tag = _plain_tag(value)
                if len(_RESOLVE_CACHE) >= _RESOLVE_CACHE_MAX:
                    _RESOLVE_CACHE.clear()
                _RESOLVE_CACHE[value] = tag
            return tag
        return _MAP if kind is _MAPPING else _SEQ


assert not _FastLoader.yaml_path_resolvers, "the fast resolver assumes no path resolvers"


class _AnchorLoader(Composer, _FastLoader):  # type: ignore[misc]
    """The same loader with PyYAML's Python composer over libyaml's events, where an anchor may be
    defined again (YAML allows it, go-yaml follows the latest definition; libyaml's C composer refuses).
    Slower, so used only for a stream where the C composer met a repeated anchor."""

    def __init__(self, stream: str) -> None:
        _FastLoader.__init__(self, stream)
        self.anchors: dict[Any, Any] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event: Any = self.get_event()
            if event.anchor not in self.anchors:
                raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
            return self.anchors[event.anchor]
        upcoming: Any = self.peek_event()
        anchor = upcoming.anchor  # a repeated anchor replaces the earlier one
        if self.check_event(ScalarEvent):
            return self.compose_scalar_node(anchor)
        if self.check_event(SequenceStartEvent):
            return self.compose_sequence_node(anchor)
        if self.check_event(MappingStartEvent):
            return self.compose_mapping_node(anchor)
        raise ComposerError(None, None, "expected a node", upcoming.start_mark)  # pragma: no cover


class _Restart(Exception):
    def __init__(self, done: int) -> None:
        self.done = done  # documents composed before the one that needs the other composer


# An anchor (`&name`, libyaml allows [0-9A-Za-z_-]) can only start after a separator: a text without one
# has no alias, and its documents skip the alias checks.
_ANCHOR = re.compile(r"(?<![0-9A-Za-z_])&[0-9A-Za-z_-]")
_ANCHOR_PREFIX = re.compile(r"&[0-9A-Za-z_-]+\s*")


def iter_documents(text: str) -> Iterator[Document]:
    """Every document of a YAML stream as Kubernetes reads it, in order; empty documents give None data.

    A document Kubernetes would refuse (`.inf`, a null key, a bad `!!int`...) is a Document with `error`
    and the stream goes on; a syntax error ends it (`fatal`), as libyaml cannot resume after one.
    """
    try:
        yield from _documents(text, _FastLoader, 0)
    except _Restart as restart:
        yield from _documents(text, _AnchorLoader, restart.done)


def load_single(text: str) -> tuple[Any, Any]:
    """The data and root node of a single-document text (None, None when empty).

    Raises DocumentError for a syntax error, a document Kubernetes would refuse, or more than one document.
    """
    found: list[Document] = []
    for doc in iter_documents(text):
        if doc.error is not None:
            raise DocumentError(doc.reason or doc.error, doc.line)
        if found:
            # the second document starts where the first one's node ends (its `---` line)
            raise DocumentError("expected a single document, found a second one", found[0].node.end_mark.line + 1)
        found.append(doc)
    if not found:
        return None, None
    return found[0].data, found[0].node


def _documents(text: str, loader_cls: type[_FastLoader], skip: int) -> Iterator[Document]:
    loader = loader_cls(text)
    loader.k8s_text = text[1:] if text[:1] == "\ufeff" else text
    has_anchors = "&" in text and _ANCHOR.search(text) is not None
    has_slash_escape = "\\/" in text
    yaml12_at = _yaml12_directives(loader.k8s_text) if "%YAML" in text else []
    previous_end = 0  # where the previous document ended (a mark index)
    done = 0
    loader.k8s_duplicates = []
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
            except yaml.MarkedYAMLError as exc:
                if loader_cls is _FastLoader and "duplicate anchor" in str(exc.context or ""):
                    raise _Restart(done) from None
                mark = exc.problem_mark or exc.context_mark
                line = mark.line + 1 if mark is not None else None
                reason = exc.problem or exc.context or "invalid YAML"
                if "nesting depth" in reason:  # libyaml stops at 1000 levels: a limit, not a syntax error
                    yield _too_deep(line, fatal=True)
                else:
                    yield _syntax_error(reason, line)
                break
            except RecursionError:
                yield _too_deep(None, fatal=True)
                break
            except (yaml.YAMLError, ValueError) as exc:
                yield _syntax_error(str(exc).splitlines()[0], None)
                break
            done += 1
            if done <= skip or node is None:
                continue
            line = node.start_mark.line + 1
            if loader.k8s_duplicates:  # left by a document refused half-way
                loader.k8s_duplicates = []
            try:
                if yaml12_at:  # the directives between the previous document and this one are this one's
                    begin, previous_end = previous_end, node.end_mark.index
                    if any(begin <= at < node.start_mark.index for at in yaml12_at):
                        raise DocumentError("a %YAML 1.2 directive (go-yaml reads YAML 1.1 only)", line)
                if has_slash_escape:
                    _check_escapes(loader, node)
                loader.k8s_alias_at = _check_aliases(node) if has_anchors else frozenset()
                data = _build(loader, node, {})
                if loader.k8s_alias_at:
                    _check_expanded_depth(data, line)
            except DocumentError as exc:
                where = exc.line if exc.line is not None else line
                problem = f"{exc.message} (Kubernetes cannot read this document); skipped"
                yield Document(line=where, error=problem, reason=exc.message)
                continue
            except _TooDeep as exc:
                yield _too_deep(exc.line or line)
                continue
            except RecursionError:
                yield _too_deep(line)
                continue
            doc = Document(data, line, node)
            if loader.k8s_duplicates:
                doc.warnings = _duplicate_warnings(node, loader.k8s_duplicates)
                loader.k8s_duplicates = []
            yield doc
    finally:
        loader.dispose()


class _TooDeep(Exception):
    def __init__(self, line: int | None) -> None:
        super().__init__(TOO_DEEP)
        self.line = line


def _too_deep(line: int | None, fatal: bool = False) -> Document:
    rest = "rest of the file skipped" if fatal else "document skipped"
    return Document(line=line, error=f"{TOO_DEEP}; {rest}", reason=TOO_DEEP, fatal=fatal, unread=True)


def _check_expanded_depth(data: Any, line: int) -> None:
    """With aliases, a node built once may be reached deeper than where it was built: orjson, which expands
    shared references and refuses 255 levels, measures the depth of the data as every reader sees it."""
    try:
        orjson.dumps(data)
    except orjson.JSONEncodeError as exc:
        if "ecursion" in str(exc):
            raise _TooDeep(line) from None


def _syntax_error(reason: str, line: int | None) -> Document:
    problem = f"malformed YAML: {reason}"
    return Document(line=line, error=f"{problem}; rest of the file skipped", reason=problem, fatal=True)


# ---- where libyaml 0.2.5 accepts what go-yaml (a port of libyaml 0.1) refuses -------------------------

_YAML_DIRECTIVE = re.compile(r"^%YAML[ \t]+([0-9]+)\.([0-9]+)", re.MULTILINE)


def _yaml12_directives(text: str) -> list[int]:
    """Where `%YAML 1.2` directives are (libyaml reads 1.1 and 1.2, go-yaml only 1.1)."""
    return [
        m.start()
        for m in _YAML_DIRECTIVE.finditer(text)
        if (int(m.group(1)), int(m.group(2))) == (1, 2)
    ]


def _check_escapes(loader: Any, root: Any) -> None:
    """go-yaml knows no `\\/` escape in a double-quoted scalar (YAML 1.2 added it; libyaml 0.2.5 has it):
    Kubernetes refuses such a document. Run only when the text contains the two characters at all."""
    stack = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.__class__ is _SCALAR:
            raw = loader.k8s_text[node.start_mark.index : node.end_mark.index] if node.style == '"' else ""
            if _has_slash_escape(raw):
                raise DocumentError("found unknown escape character '\\/' in a quoted scalar", _line(node))
        else:
            stack.extend(_children(node))


def _has_slash_escape(raw: str) -> bool:
    i = raw.find('"') + 1
    while 0 < i < len(raw):
        c = raw[i]
        if c == "\\":
            if raw[i + 1 : i + 2] == "/":
                return True
            i += 2
        elif c == '"':
            return False
        else:
            i += 1
    return False


# ---- building Python data as sigs.k8s.io/yaml does ---------------------------------------------------

_intern = sys.intern  # mapping keys repeat in every object: one string each saves memory on large corpora


def _build(loader: Any, node: Any, memo: dict[int, Any], depth: int = 1) -> Any:
    """Python data for a composed node: what `json.loads(YAMLToJSON(document))` gives.

    `memo` maps collection nodes already built to their result, so aliases share one object (linear
    work; go-yaml's limit on alias expansion is enforced before, in `_check_aliases`). Plain string
    values, the bulk of a manifest, are taken inline instead of through a recursive call.

    `depth` is the nesting level of `node` (the document's root collection is 1): past `MAX_DEPTH` the
    document is refused (`_TooDeep`), a fixed bound instead of wherever Python's stack would end. A mapping
    that ends up with fewer keys than it has entries had a key twice (or a merge key): `_note_duplicates`
    looks closer, so the common case costs one length comparison.
    """
    cls = node.__class__
    tag = node.tag
    if cls is _SCALAR:
        if tag == _STR:
            value = node.value
            return _intern(value) if len(value) < 40 else value
        if tag.__class__ is _Plain:
            if node.end_mark.index - node.start_mark.index != len(node.value) and _bang_tagged(loader, node):
                return node.value
            return tag.value
        return _scalar(loader, node)
    key = id(node)
    if key in memo:
        return memo[key]
    if depth > MAX_DEPTH:
        raise _TooDeep(_line(node))
    if tag is not _MAP and tag is not _SEQ:
        _check_collection_tag(tag, node)
    if cls is _MAPPING:
        out: dict[str, Any] = {}
        memo[key] = out
        for k, v in node.value:
            if k.tag == _STR:
                if v.__class__ is _SCALAR and v.tag == _STR:
                    value = v.value
                    out[_intern(k.value)] = _intern(value) if len(value) < 40 else value
                else:
                    out[_intern(k.value)] = _build(loader, v, memo, depth + 1)
            else:
                _pair(loader, node, k, v, out, memo, depth)
        if len(out) != len(node.value):
            _note_duplicates(loader, node)
        return out
    items: list[Any] = []
    memo[key] = items
    for child in node.value:
        if child.__class__ is _SCALAR and child.tag == _STR:
            value = child.value
            items.append(_intern(value) if len(value) < 40 else value)
        else:
            items.append(_build(loader, child, memo, depth + 1))
    return items


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1


def _bang_tagged(loader: Any, node: Any) -> bool:
    """Was this scalar written with the non-specific tag `!` (`! 123`)? libyaml hands such a scalar to
    the resolver like a plain one; go-yaml keeps it a string. Asked only when the scalar's span is longer
    than its text, which for a typed (one-word) scalar means an anchor or a tag stands before it."""
    raw = loader.k8s_text[node.start_mark.index : node.end_mark.index]
    if raw.startswith("&"):
        raw = _ANCHOR_PREFIX.sub("", raw, count=1)
    return raw.startswith("!")


def _refuse_python_tag(tag: str, node: Any) -> None:
    if tag.startswith(_PYTHON):
        reason = f"the tag {go_scalars.short_tag(tag)} is refused (a Python object, never a Kubernetes value)"
        raise DocumentError(reason, _line(node))


def _check_collection_tag(tag: Any, node: Any) -> None:
    """go-yaml ignores the tag of a mapping or sequence; a Python tag is refused all the same."""
    if isinstance(tag, str):
        _refuse_python_tag(tag, node)


def _scalar(loader: Any, node: Any) -> Any:
    """The value of a scalar off the fast path: `<<`, `.inf`, explicit tags (`!!int "1"`, `!!binary`...)."""
    tag = node.tag
    if tag == _MERGE:
        return node.value  # `<<` outside a key, or `!!merge x`: go-yaml keeps the text
    if tag.__class__ is _PlainInvalid:
        if _bang_tagged(loader, node):
            return node.value
        raise DocumentError(tag.error, _line(node))
    gv = _tagged(node)
    try:
        return gv.json_value()
    except GoDecodeError as exc:
        raise DocumentError(str(exc), _line(node)) from None


def _tagged(node: Any) -> go_scalars.GoValue:
    """The Go value of an explicitly tagged scalar, by go-yaml's rules."""
    tag = node.tag
    if not isinstance(tag, str):  # pragma: no cover - _Plain/_PlainInvalid are handled before
        raise AssertionError(f"unexpected tag object {tag!r}")
    _refuse_python_tag(tag, node)
    try:
        if tag == _BINARY:
            return go_scalars.GoValue("string", go_scalars.decode_binary(node.value))
        return go_scalars.resolve(tag, node.value)[1]
    except GoDecodeError as exc:
        raise DocumentError(str(exc), _line(node)) from None


def _key(loader: Any, k: Any) -> str:
    """The JSON key of a mapping key node that is not a plain string: `YAMLToJSON`'s conversion."""
    if k.__class__ is not _SCALAR:
        kind = "mapping" if k.__class__ is _MAPPING else "sequence"
        raise DocumentError(f"a mapping key is a {kind} (invalid map key)", _line(k))
    tag: Any = k.tag
    cls = tag.__class__
    if cls is _Plain or cls is _PlainInvalid:
        if k.end_mark.index - k.start_mark.index != len(k.value) and _bang_tagged(loader, k):
            return _intern(k.value)
        if tag.key is None:
            raise DocumentError(str(tag.key_error), _line(k))
        return str(tag.key)
    if tag == _MERGE or tag == _STR:
        return _intern(k.value)
    try:
        return _intern(_tagged(k).json_key())
    except GoDecodeError as exc:
        raise DocumentError(str(exc), _line(k)) from None


def _position(node: Any, k: Any, v: Any) -> int:
    """Index of the pair (k, v) in a mapping node; used only when the document has aliases."""
    for j, (kk, vv) in enumerate(node.value):
        if kk is k and vv is v:
            return j
    return -1  # pragma: no cover


def _pair(loader: Any, node: Any, k: Any, v: Any, out: dict[str, Any], memo: dict[int, Any], depth: int) -> None:
    """A mapping entry whose key is not a plain string: a merge key, or a key `YAMLToJSON` converts.
    `depth` is the level of the mapping `node`."""
    alias_at = loader.k8s_alias_at
    if k.__class__ is _SCALAR and k.tag == _MERGE and k.value == "<<":
        j = _position(node, k, v) if alias_at else 0
        if (id(node), 2 * j) not in alias_at:  # `*x : ...` where x is `<<` is a key, not a merge
            _merge(loader, node, 2 * j + 1, v, out, memo, depth)
            return
    out[_key(loader, k)] = _build(loader, v, memo, depth + 1)


def _merge(loader: Any, parent: Any, pos: int, v: Any, out: dict[str, Any], memo: dict[int, Any],
           depth: int) -> None:
    """go-yaml v2's merge: the merged mapping is decoded into this one where `<<` stands, so it overrides
    the keys before it and the keys after it override it; in a sequence, earlier mappings win. The value
    must be a mapping (or an alias of one) or a written sequence of mappings."""
    if v.__class__ is _MAPPING:
        out.update(_build(loader, v, memo, depth))  # its entries land at the level of `parent`
        return
    if v.__class__ is _SEQUENCE and (id(parent), pos) not in loader.k8s_alias_at:
        for item in reversed(v.value):
            if item.__class__ is not _MAPPING:
                break
            out.update(_build(loader, item, memo, depth))
        else:
            return
    raise DocumentError("map merge requires map or sequence of maps as the value", _line(v))


# ---- duplicate mapping keys --------------------------------------------------------------------------
#
# go-yaml v2 (non-strict, as sigs.k8s.io/yaml calls it) keeps the last value of a key written twice, and so
# does `kubectl apply -f` (it converts YAML to JSON before sending: kubernetes/kubernetes#89303, #125885);
# the API server's strict field validation and kustomize refuse such a document. We read what kubectl
# sends, the last value, and say where the hidden earlier one is: a duplicate can hide `privileged: true`.

DUPLICATE_KEYS_SHOWN = 10
"""Per document; the rest are counted in one more warning."""


def _note_duplicates(loader: Any, node: Any) -> None:
    """Record the keys written twice in mapping `node` (merge keys are not keys: what they bring in is
    overridden by the mapping's own keys by design)."""
    alias_at = loader.k8s_alias_at
    seen: dict[str, Any] = {}
    for j, (k, _v) in enumerate(node.value):
        if k.__class__ is _SCALAR and k.tag == _MERGE and k.value == "<<" and (id(node), 2 * j) not in alias_at:
            continue
        name = _intern(k.value) if k.tag == _STR else _key(loader, k)
        first = seen.get(name)
        if first is None:
            seen[name] = k
        else:
            loader.k8s_duplicates.append((node, k, first))
            seen[name] = k


def _duplicate_warnings(root: Any, found: list[tuple[Any, Any, Any]]) -> list[tuple[int, str]]:
    """One (line, message) per duplicate key: where it is (the key path, never a value) and where the value
    it hides was written."""
    paths = _paths_to({id(node) for node, _, _ in found}, root)
    out: list[tuple[int, str]] = []
    for node, k, first in found[:DUPLICATE_KEYS_SHOWN]:
        path = join_key_path(paths.get(id(node), "?"), str(k.value))
        out.append((_line(k), f"duplicate key {path} (also at line {_line(first)}): the last value is read, as "
                              "`kubectl apply -f` does; the earlier one is ignored"))
    if len(found) > DUPLICATE_KEYS_SHOWN:
        out.append((_line(found[DUPLICATE_KEYS_SHOWN][1]),
                    f"... and {len(found) - DUPLICATE_KEYS_SHOWN} more duplicate key(s) in this document"))
    return out


def _paths_to(targets: set[int], root: Any) -> dict[int, str]:
    """The key path (`spec.containers[0]`) of each target mapping node, found by one walk of the document's
    nodes (each node once, aliases included); only run when a duplicate was found."""
    out: dict[int, str] = {}
    stack: list[tuple[Any, str]] = [(root, "")]
    seen: set[int] = set()
    while stack and len(out) < len(targets):
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if id(node) in targets:
            out[id(node)] = path
        if node.__class__ is _MAPPING:
            stack.extend((v, join_key_path(path, str(k.value))) for k, v in node.value if v.__class__ is not _SCALAR)
        elif node.__class__ is _SEQUENCE:
            stack.extend((c, f"{path}[{i}]") for i, c in enumerate(node.value) if c.__class__ is not _SCALAR)
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,80}")


def join_key_path(path: str, key: str) -> str:
    """`path.key`, or `path["a.b/c"]` for a key that is not a plain word (JSON-quoted, cut at 80 chars)."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    shown = key if len(key) <= 80 else key[:80] + "..."
    return f"{path}[{orjson.dumps(shown).decode()}]"


# ---- go-yaml's alias rules ---------------------------------------------------------------------------


def _allowed_alias_ratio(decodes: int) -> float:
    """go-yaml v2 `allowedAliasRatio`: how much of the decoding may come from alias expansion."""
    if decodes <= 400_000:
        return 0.99
    if decodes >= 4_000_000:
        return 0.10
    return 0.99 - 0.89 * (float(decodes - 400_000) / 3_600_000.0)


def _is_merge_key(node: Any, j: int, k: Any, alias_at: set[tuple[int, int]]) -> bool:
    return (
        k.__class__ is _SCALAR and k.tag == _MERGE and k.value == "<<" and (id(node), 2 * j) not in alias_at
    )


def _check_aliases(root: Any) -> set[tuple[int, int]]:
    """Where the aliases of a document are, as (id(parent node), child position); DocumentError for an
    alias inside its own anchor (a cycle) or for more alias expansion than go-yaml allows.

    libyaml's composer gives an alias the very node of its anchor, marks included, so an alias is a
    child that starts before the place where it stands: before its parent (first child) or before the end
    of its previous sibling. go-yaml counts every node it decodes, aliases expanded, and fails once more
    than 100 of them, and a share of at least 99% (10% past 4 million), came from aliases; that replay
    (`_count_decodes`) runs only when the aliases could add up to more than 100 nodes.
    """
    alias_at: set[tuple[int, int]] = set()
    targets: list[Any] = []
    open_: set[int] = set()

    def find(node: Any) -> None:
        nid = id(node)
        open_.add(nid)
        cursor = node.start_mark.index
        for pos, child in enumerate(_children(node)):
            if child.start_mark.index < cursor:
                if id(child) in open_:
                    raise DocumentError("an anchor's value contains an alias of itself", _line(child))
                alias_at.add((nid, pos))
                targets.append(child)
            else:
                if child.__class__ is not _SCALAR:
                    find(child)
                cursor = child.end_mark.index
        open_.discard(nid)

    if root.__class__ is not _SCALAR:
        find(root)
    if alias_at and _more_than(100, targets):
        _count_decodes(root, alias_at, {})
    return alias_at


def _children(node: Any) -> Any:
    """Children of a collection node in document order (a mapping's keys and values alternate)."""
    if node.__class__ is _MAPPING:
        return chain.from_iterable(node.value)
    return node.value


def _more_than(limit: int, targets: list[Any]) -> bool:
    """Do the alias expansions of a document decode more than `limit` nodes? go-yaml's check needs more
    than 100 from aliases, and most documents with aliases stay far below: a walk that stops there."""
    count = 0
    stack = list(targets)
    while stack:
        node = stack.pop()
        count += 2  # the node, and the alias node if it was one (an over-count is only a slower answer)
        if count > limit:
            return True
        if node.__class__ is not _SCALAR:
            stack.extend(_children(node))
    return False


def _expanded_size(node: Any, alias_at: set[tuple[int, int]], sizes: dict[int, int]) -> int:
    """How many nodes go-yaml decodes for `node`, aliases inside it expanded (merge keys and the list
    holding merged mappings are not decoded themselves); memoised per node, so linear in the document."""
    nid = id(node)
    got = sizes.get(nid)
    if got is not None:
        return got

    def child_size(parent: Any, pos: int, child: Any) -> int:
        n = _expanded_size(child, alias_at, sizes)
        return n + 1 if (id(parent), pos) in alias_at else n

    n = 1
    if node.__class__ is _SEQUENCE:
        for i, child in enumerate(node.value):
            n += child_size(node, i, child)
    elif node.__class__ is _MAPPING:
        for j, (k, v) in enumerate(node.value):
            if not _is_merge_key(node, j, k, alias_at):
                n += child_size(node, 2 * j, k) + child_size(node, 2 * j + 1, v)
            elif v.__class__ is _SEQUENCE and (id(node), 2 * j + 1) not in alias_at:
                n += sum(child_size(v, i, item) for i, item in enumerate(v.value))
            else:
                n += child_size(node, 2 * j + 1, v)
    sizes[nid] = n
    return n


def _count_decodes(root: Any, alias_at: set[tuple[int, int]], sizes: dict[int, int]) -> None:
    """Replay go-yaml's decode counting (decodeCount, aliasCount) and its check after each step.

    Inside one alias expansion every step adds one to both counts, so the failing condition, once true,
    stays true to the end of the expansion: checking at its end is checking at every step.
    """

    def size(node: Any) -> int:
        return _expanded_size(node, alias_at, sizes)

    counts = [1, 0]  # decodes (the document node is the first), of which from aliases

    def check() -> None:
        decodes, aliased = counts
        if aliased > 100 and decodes > 1000 and aliased / decodes > _allowed_alias_ratio(decodes):
            raise DocumentError("document contains excessive aliasing", _line(root))

    def visit(parent: Any, pos: int, child: Any) -> None:
        if (id(parent), pos) in alias_at:
            counts[0] += 1  # the alias node itself, outside any expansion
            check()
            n = size(child)
            counts[0] += n
            counts[1] += n
            check()
        else:
            walk(child)

    def walk(node: Any) -> None:
        counts[0] += 1
        check()
        if node.__class__ is _SEQUENCE:
            for i, child in enumerate(node.value):
                visit(node, i, child)
        elif node.__class__ is _MAPPING:
            for j, (k, v) in enumerate(node.value):
                if _is_merge_key(node, j, k, alias_at):
                    if v.__class__ is _SEQUENCE and (id(node), 2 * j + 1) not in alias_at:
                        for i in range(len(v.value) - 1, -1, -1):
                            visit(v, i, v.value[i])
                    else:
                        visit(node, 2 * j + 1, v)
                else:
                    visit(node, 2 * j, k)
                    visit(node, 2 * j + 1, v)

    walk(root)
