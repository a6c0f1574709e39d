"""Field paths and their JSON types, read from Kubernetes' published OpenAPI schemas, and Hypothesis
strategies that put a value of the right or of a wrong type at one of them.

Where the schemas come from: the `kubernetes-validate` package ships upstream's OpenAPI v3 schemas turned
into JSON Schema, one file per kind plus `_definitions.json`, for each Kubernetes minor version. We read the
newest "strict" set (`additionalProperties: false`, so every property is listed) and walk the schema of each
kind the engines read, once, following each `$ref` once: every object property, every list's items and every
map's values becomes a `Field` (its path and the JSON types it may hold). Inputs that are not Kubernetes API
objects (the audit Event, the audit Policy, EncryptionConfiguration, KubeletConfiguration) are described in
the same JSON Schema dialect in `tests/fuzz/typed.py`, written from upstream's Go types, and walked the same way.

Why a schema and not a hand list of fields: the engines read fields nobody thought to list, and the API
server accepts exactly what the schema says. A mutant is a valid object with one field set to a value of a
JSON type the schema does not allow there (object, array, string, integer, number, boolean, null): the API
server would refuse it, a manifest on disk can still hold it, and an engine must answer for the rest.

Cost: parsing `_definitions.json` (1.4 MB) and walking the 18 kinds takes ~0.3 s, once per process.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from hypothesis import strategies as st

ITEM = "[]"
"""Path step: any item of a list."""
VALUE = "{}"
"""Path step: the value of any key of a map (labels, annotations, ConfigMap data, ...)."""

JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
EXAMPLES = int(os.environ.get("KUBEHIPAA_FUZZ_EXAMPLES", "0")) or None
"""Examples per fuzz test from the environment (deeper local runs); None = each test's own default."""

MAX_DEPTH = 24
"""Deepest schema path walked. The kinds read here nest at most 17 levels (a CronJob's ephemeral volume's
claim template's selector values); recursive definitions stop at their second use of a `$ref` anyway."""

SKIPPED_ROOTS = frozenset({"status"})
"""Written by controllers, never read by an engine from a manifest."""
SKIPPED_FIELDS = frozenset({"managedFields"})
"""Server-side apply bookkeeping: thousands of paths no engine reads."""

KIND_FILES: dict[str, str] = {
    "Pod": "pod-v1.json",
    "Deployment": "deployment-apps-v1.json",
    "StatefulSet": "statefulset-apps-v1.json",
    "DaemonSet": "daemonset-apps-v1.json",
    "ReplicaSet": "replicaset-apps-v1.json",
    "Job": "job-batch-v1.json",
    "CronJob": "cronjob-batch-v1.json",
    "Service": "service-v1.json",
    "Ingress": "ingress-networking-v1.json",
    "NetworkPolicy": "networkpolicy-networking-v1.json",
    "Namespace": "namespace-v1.json",
    "ServiceAccount": "serviceaccount-v1.json",
    "Role": "role-rbac-v1.json",
    "ClusterRole": "clusterrole-rbac-v1.json",
    "RoleBinding": "rolebinding-rbac-v1.json",
    "ClusterRoleBinding": "clusterrolebinding-rbac-v1.json",
    "ConfigMap": "configmap-v1.json",
    "Secret": "secret-v1.json",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One place in an object: `path` (keys, `ITEM`, `VALUE`), the JSON types it may hold (`types`, "null"
    left out: Kubernetes reads null as unset everywhere; empty = anything, e.g. a RawExtension's content)
    and its resolved schema (`node`, for generating a valid value)."""

    path: tuple[str, ...]
    types: frozenset[str]
    node: Mapping[str, Any]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


# -- loading ---------------------------------------------------------------------------------------------


def _version_dirs() -> list[str]:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    names = [p.name for p in root.iterdir() if p.name.endswith("-local-strict")]
    return sorted(names, key=lambda n: tuple(int(x) for x in re.findall(r"\d+", n)[:3]))


@cache
def schema_dir() -> Any:
    """The newest strict schema set shipped by kubernetes-validate (a Traversable)."""
    return resources.files("kubernetes_validate") / "kubernetes-json-schema" / _version_dirs()[-1]


def kubernetes_version() -> str:
    return str(schema_dir().name).removesuffix("-local-strict")


@cache
def definitions() -> dict[str, Any]:
    """`_definitions.json`'s `$defs`, parsed once."""
    return json.loads((schema_dir() / "_definitions.json").read_text())["$defs"]


@cache
def kind_schema(kind: str) -> dict[str, Any]:
    return json.loads((schema_dir() / KIND_FILES[kind]).read_text())


def _resolve(node: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """`node` with its `$ref` followed (both `#/$defs/X` and `/api/_definitions.json#/$defs/X` forms)."""
    ref = node.get("$ref")
    if ref is None:
        return node, None
    name = ref.rsplit("/", 1)[-1]
    return definitions()[name], name


def types_of(node: Mapping[str, Any]) -> frozenset[str]:
    """JSON types `node` allows ("number" allows integers too); empty when it does not say (any value)."""
    node, _ = _resolve(node)
    out: set[str] = set()
    declared = node.get("type")
    if isinstance(declared, str):
        out.add(declared)
    elif isinstance(declared, list):
        out.update(declared)
    for alt in node.get("oneOf", ()) or node.get("anyOf", ()):
        out |= types_of(alt)
    if "number" in out:
        out.add("integer")
    out.discard("null")
    return frozenset(out)


def walk(root: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[Field]:
    """Every field of `root` (depth-first), each `$ref` expanded once per path (no infinite recursion)."""
    out: list[Field] = []

    def visit(node: Mapping[str, Any], path: tuple[str, ...], refs: frozenset[str]) -> None:
        resolved, ref = _resolve(node)
        if ref is not None:
            if ref in refs:
                return
            refs = refs | {ref}
        if path:
            out.append(Field(prefix + path, types_of(resolved), resolved))
        if len(path) >= MAX_DEPTH:
            return
        for key, child in (resolved.get("properties") or {}).items():
            if (not path and key in SKIPPED_ROOTS) or key in SKIPPED_FIELDS:
                continue
            visit(child, (*path, key), refs)
        items = resolved.get("items")
        if isinstance(items, Mapping):
            visit(items, (*path, ITEM), refs)
        extra = resolved.get("additionalProperties")
        if isinstance(extra, Mapping):
            visit(extra, (*path, VALUE), refs)

    visit(root, (), frozenset())
    return out


@cache
def kind_fields(kind: str) -> tuple[Field, ...]:
    """The fields of an API kind, from its published schema."""
    return tuple(walk(kind_schema(kind)))


# -- where a field is in a document ----------------------------------------------------------------------


def present(doc: Any, path: Sequence[str]) -> bool:
    """Whether `doc` has something at `path` (ITEM / VALUE match any item / key)."""
    if not path:
        return True
    head, rest = path[0], path[1:]
    if head == ITEM:
        return isinstance(doc, list) and any(present(x, rest) for x in doc)
    if head == VALUE:
        return isinstance(doc, dict) and any(present(x, rest) for x in doc.values())
    return isinstance(doc, dict) and head in doc and present(doc[head], rest)


def minimal(node: Mapping[str, Any]) -> Any:
    """The smallest valid value of a schema node: its required properties, an empty list, "x", 1, false."""
    node, _ = _resolve(node)
    types = types_of(node)
    if "object" in types or node.get("properties"):
        props = node.get("properties") or {}
        return {k: minimal(props[k]) for k in node.get("required", ()) if k in props}
    if "array" in types:
        return []
    if "string" in types or not types:
        return "x"
    if "integer" in types:
        return 1
    if "boolean" in types:
        return False
    return None


def _child_schema(node: Mapping[str, Any], step: str) -> Mapping[str, Any]:
    node, _ = _resolve(node)
    if step == ITEM:
        return node.get("items") or {}
    if step == VALUE:
        extra = node.get("additionalProperties")
        return extra if isinstance(extra, Mapping) else {}
    return (node.get("properties") or {}).get(step) or {}


def locate(draw: st.DrawFn, doc: dict[str, Any], root: Mapping[str, Any], path: Sequence[str]
           ) -> tuple[Any, Any] | None:
    """(container, key) of `path` in `doc`, creating what is missing on the way with the smallest valid
    values (a list gets one minimal item, a map the key "k"); an existing list item or map key is drawn.
    None when something on the way has another type already (an earlier mutation)."""
    node: Any = doc
    schema: Mapping[str, Any] = root
    for i, step in enumerate(path):
        last = i == len(path) - 1
        child_schema = _child_schema(schema, step)
        if step == ITEM:
            if not isinstance(node, list):
                return None
            if not node:
                node.append(minimal(child_schema))
            key: Any = draw(st.integers(0, len(node) - 1))
        elif step == VALUE:
            if not isinstance(node, dict):
                return None
            if not node:
                node["k"] = minimal(child_schema)
            key = draw(st.sampled_from(sorted(node)))
        else:
            if not isinstance(node, dict):
                return None
            key = step
            if key not in node and not last:
                node[key] = minimal(child_schema)
        if last:
            return node, key
        node = node[key]
        schema = child_schema
    return None


# -- values ----------------------------------------------------------------------------------------------

_STRINGS = ("", "x", "5", "80", "true", "null", "*", "TCP", "Ingress", "10.0.0.0/8", "::1", "a b", "-",
            "kube-system", "cluster-admin", "system:masters", "/", "0.5", "1e3", "ü", "\u202e", "${x}",
            "{{x}}", "a:b", "a=b", "a,b", "9" * 30)
_INTS = (0, 1, -1, 5, 53, 80, 443, 6443, 65535, 65536, 2**31 - 1, 2**31, -2**31 - 1, 2**63, -2**63 - 1, 10**30)
_FLOATS = (0.5, -1.5, 1e-9, 3.14, 1e20, 1.7976931348623157e308, -1e308)

_leaf = st.one_of(st.none(), st.booleans(), st.sampled_from(_INTS), st.sampled_from(_FLOATS),
                  st.sampled_from(_STRINGS))
_any_small = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.sampled_from(_STRINGS), inner,
                                                                         max_size=3)), max_leaves=5)

VALUES_OF_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "object": st.one_of(st.just({}), st.dictionaries(st.sampled_from(_STRINGS), _any_small, min_size=1,
                                                     max_size=3)),
    "array": st.one_of(st.just([]), st.lists(_any_small, min_size=1, max_size=3)),
    "string": st.one_of(st.sampled_from(_STRINGS), st.text(max_size=8)),
    "integer": st.one_of(st.sampled_from(_INTS), st.integers()),
    "number": st.one_of(st.sampled_from(_FLOATS),
                        st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())),
    "boolean": st.booleans(),
    "null": st.none(),
}
"""Values of each JSON type ("number" here means a non-integral one, the case an integer field refuses)."""


def _nested(depth: int, kind: str) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if kind == "array" else {"a": value}
    return value


DEPTHS = (50, 200, 400)
"""Nesting of the deep edge values (YAML and JSON readers cap nesting themselves, near 254 levels)."""


@st.composite
def edge_values(draw: st.DrawFn, depths: tuple[int, ...] = DEPTHS) -> Any:
    """Deep and huge values: nesting hundreds of levels deep (well below the loaders' own depth cap), long
    strings, long lists, wide maps, integers of hundreds of digits, a key as long as YAML allows."""
    shape = draw(st.sampled_from(("deep-array", "deep-object", "long-string", "long-list", "wide-map",
                                  "big-int", "long-key")))
    if shape.startswith("deep"):
        return _nested(draw(st.sampled_from(depths)), shape.removeprefix("deep-"))
    if shape == "long-string":
        return draw(st.sampled_from(("a", "9", "é", "a b ", "-"))) * draw(st.sampled_from((4096, 100_000)))
    if shape == "long-list":
        return [draw(_leaf)] * draw(st.sampled_from((1000, 20_000)))
    if shape == "wide-map":
        return {f"k{i}": i for i in range(draw(st.sampled_from((1000, 10_000))))}
    if shape == "big-int":
        return draw(st.sampled_from((10**100, -(10**300), 2**1000)))
    return {"k" * 1000: "v"}  # YAML caps a flow-style key at 1024 characters


def wrong_value(draw: st.DrawFn, types: frozenset[str], depths: tuple[int, ...] = DEPTHS) -> Any:
    """A value of a JSON type `types` does not allow (null included: see `Field`); any type when the field
    takes anything. Sometimes a deep or huge value instead (of any type)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(edge_values(depths))
    wrong = [t for t in JSON_TYPES if t not in types] or list(JSON_TYPES)
    return draw(VALUES_OF_TYPE[draw(st.sampled_from(wrong))])


def valid_value(draw: st.DrawFn, node: Mapping[str, Any], depth: int = 0) -> Any:
    """A value the schema allows at `node` (required properties filled in, small lists and maps)."""
    node, _ = _resolve(node)
    if node.get("enum"):
        return draw(st.sampled_from(node["enum"]))
    types = sorted(types_of(node)) or ["string", "integer", "object"]
    kind = draw(st.sampled_from(types))
    if kind == "object":
        props = node.get("properties") or {}
        out = {k: minimal(props[k]) for k in node.get("required", ()) if k in props}
        if depth < 3 and props:
            for key in draw(st.lists(st.sampled_from(sorted(props)), max_size=2, unique=True)):
                out[key] = valid_value(draw, props[key], depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, Mapping) and depth < 3:
            for key in draw(st.lists(st.sampled_from(_STRINGS), max_size=2, unique=True)):
                out[key] = valid_value(draw, extra, depth + 1)
        return out
    if kind == "array":
        items = node.get("items")
        if not isinstance(items, Mapping) or depth >= 3:
            return []
        return [valid_value(draw, items, depth + 1) for _ in range(draw(st.integers(0, 2)))]
    if kind == "integer" and node.get("format") == "int32":
        return draw(st.one_of(st.sampled_from((0, 1, -1, 80, 65535, 2**31 - 1, -2**31)),
                              st.integers(-2**31, 2**31 - 1)))
    return draw(VALUES_OF_TYPE[kind])


# -- mutants ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """What can be mutated in one base document: its schema root and fields, those present in the base
    first (they are what the engines read from it) and all of them."""

    root: Mapping[str, Any]
    fields: tuple[Field, ...]
    present: tuple[Field, ...]

    @classmethod
    def of(cls, root: Mapping[str, Any], fields: Sequence[Field], base: Any) -> Target:
        return cls(root, tuple(fields), tuple(f for f in fields if present(base, f.path)))

    def field(self) -> st.SearchStrategy[Field]:
        if not self.present:
            return st.sampled_from(self.fields)
        return st.one_of(st.sampled_from(self.present), st.sampled_from(self.fields))


def mutate(draw: st.DrawFn, doc: dict[str, Any], target: Target, *, valid: bool = False,
           changes: tuple[int, int] = (1, 3), depths: tuple[int, ...] = DEPTHS) -> list[str]:
    """Set one to three fields of `doc` (in place) to wrong-typed values (or, with `valid`, to values the
    schema allows; `depths` for the deep edge values). Returns the dotted paths changed."""
    done: list[str] = []
    for _ in range(draw(st.integers(*changes))):
        field = draw(target.field())
        where = locate(draw, doc, target.root, field.path)
        if where is None:
            continue
        container, key = where
        container[key] = valid_value(draw, field.node) if valid else wrong_value(draw, field.types, depths)
        done.append(field.dotted)
    return done


def iter_type_violations(doc: Any, root: Mapping[str, Any]) -> Iterator[str]:
    """Paths where `doc` holds a JSON type the schema does not allow there (null allowed): the generator's
    self-test, independent of jsonschema's validator."""

    def json_type(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, int):
            return "integer"
        if isinstance(v, float):
            return "integer" if v.is_integer() else "number"
        return {dict: "object", list: "array", str: "string"}[type(v)]

    def visit(v: Any, node: Mapping[str, Any], path: str) -> Iterator[str]:
        types = types_of(node)
        t = json_type(v)
        if types and t != "null" and t not in types:
            yield path
            return
        if isinstance(v, dict):
            for k, child in v.items():
                yield from visit(child, _child_schema(node, k) if k in (_resolve(node)[0].get("properties") or {})
                                 else _child_schema(node, VALUE), f"{path}.{k}")
        elif isinstance(v, list):
            for i, child in enumerate(v):
                yield from visit(child, _child_schema(node, ITEM), f"{path}[{i}]")

    yield from visit(doc, root, "")


def clone(doc: Any) -> Any:
    return copy.deepcopy(doc)
