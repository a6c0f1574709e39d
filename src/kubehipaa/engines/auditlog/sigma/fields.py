"""Which value of an audit event a Sigma field name means: field mapping, virtual fields, cached getters.

SigmaHQ's Kubernetes rules name fields by their audit Event path (`objectRef.resource`, `verb`), with a few
pseudo-fields that are no Event path (`capabilities`, `hostPath`, a top-level `apiGroup`): the pySigma
processing pipeline here renames those, and this module computes the virtual ones from the request object.
A getter reads one field of one event, at most once per event (`FieldCache`), whatever the number of rules
that name it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sigma.processing.conditions import IncludeFieldCondition, MatchStringCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation

from kubehipaa.workload_kinds import POD_SPEC_PATHS as _POD_SPEC_PATHS

# Pseudo-fields of SigmaHQ's Kubernetes rules that are not audit Event paths. They are renamed by the
# processing pipeline below to virtual fields that this module computes from the request object.
VIRTUAL_CAPABILITIES = "kubehipaa.pod.capabilities"
VIRTUAL_HOSTPATHS = "kubehipaa.pod.hostPaths"
DECISION_FIELD = "annotations.authorization.k8s.io/decision"

FIELD_MAPPING: dict[str | None, str | list[str]] = {
    "capabilities": VIRTUAL_CAPABILITIES,
    "hostPath": VIRTUAL_HOSTPATHS,
    "apiGroup": "objectRef.apiGroup",
}


def kubernetes_audit_pipeline() -> ProcessingPipeline:
    """The documented field mapping, as a pySigma processing pipeline.

    - `capabilities`, `hostPath`: virtual fields over every pod spec in the request object.
    - top-level `apiGroup`: `objectRef.apiGroup` (the audit Event has no top-level apiGroup).
    - `responseStatus.code` compared with an authorization decision word (`ALLOW`/`FORBID`, as in
      SigmaHQ's enumeration rule) is the decision annotation, since the status code is always a number.
    """
    return ProcessingPipeline(
        name="kubehipaa kubernetes audit",
        items=[
            ProcessingItem(
                identifier="kubehipaa_pseudo_fields",
                transformation=FieldMappingTransformation(FIELD_MAPPING),
            ),
            ProcessingItem(
                identifier="kubehipaa_decision_word",
                transformation=FieldMappingTransformation({"responseStatus.code": DECISION_FIELD}),
                field_name_conditions=[IncludeFieldCondition(fields=["responseStatus.code"])],
                detection_item_conditions=[
                    MatchStringCondition(cond="all", pattern=r"(?i)^(allow|forbid|deny)$")
                ],
            ),
        ],
    )


FieldCache = dict[str, list[Any]]
Getter = Callable[[dict[str, Any], FieldCache], list[Any]]


def _walk(node: Any, parts: Sequence[str]) -> list[Any]:
    """The leaf values of a dotted path; lists fan out, keys may themselves contain dots.

    An explicit stack (document order, as a recursive walk would give) instead of recursion, so a deeply
    nested list in an event cannot exhaust Python's recursion limit; and each container is visited once per
    position in the path, so lists that share elements (possible in dicts built in memory) cannot make the
    fan-out exponential. A repeated visit could only repeat a value, which no predicate needs.
    """
    out: list[Any] = []
    n = len(parts)
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Any, int]] = [(node, 0)]
    while stack:
        node, i = stack.pop()
        if isinstance(node, list):
            if (id(node), i) not in seen:
                seen.add((id(node), i))
                stack.extend((item, i) for item in reversed(node))
            continue
        if i == n:
            out.append(node)
            continue
        if not isinstance(node, dict):
            continue
        # Longest key first, so `annotations.authorization.k8s.io/decision` finds the dotted annotation key.
        for cut in range(n - i, 0, -1):
            key = ".".join(parts[i:i + cut]) if cut > 1 else parts[i]
            if key in node:
                stack.append((node[key], i + cut))
                break
    return out


def _flatten(values: list[Any]) -> list[Any]:
    """`values` with nested lists spliced in, in order; each nested list once (iterative, see `_walk`)."""
    out: list[Any] = []
    seen: set[int] = {id(values)}
    stack: list[Iterator[Any]] = [iter(values)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                if id(v) not in seen:
                    seen.add(id(v))
                    stack.append(iter(v))
                    break
            else:
                out.append(v)
        else:
            stack.pop()
    return out




def _pod_specs(event: dict[str, Any]) -> list[dict[str, Any]]:
    obj = event.get("requestObject")
    if not isinstance(obj, dict):
        return []
    kind = obj.get("kind")
    specs = []
    for path in _POD_SPEC_PATHS:
        node: Any = obj
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and ("containers" in node or "volumes" in node):
            specs.append(node)
            if kind == "Pod":
                break
    return specs


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                yield c


def pod_capabilities(event: dict[str, Any]) -> list[Any]:
    """Capabilities a pod in the request gains: every `capabilities.add` entry, and `ALL` for a privileged
    container (a privileged container runs with the full capability set)."""
    out: list[Any] = []
    for spec in _pod_specs(event):
        for c in _containers(spec):
            sc = c.get("securityContext")
            if not isinstance(sc, dict):
                continue
            caps = sc.get("capabilities")
            if isinstance(caps, dict) and isinstance(caps.get("add"), list):
                out.extend(caps["add"])
            if sc.get("privileged") is True:
                out.append("ALL")
    return out


def pod_host_paths(event: dict[str, Any]) -> list[Any]:
    """`hostPath.path` of every volume of every pod spec in the request object."""
    out: list[Any] = []
    for spec in _pod_specs(event):
        for vol in spec.get("volumes") or ():
            hp = vol.get("hostPath") if isinstance(vol, dict) else None
            if isinstance(hp, dict):
                out.append(hp.get("path", ""))
    return out


VIRTUAL_FIELDS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    VIRTUAL_CAPABILITIES: pod_capabilities,
    VIRTUAL_HOSTPATHS: pod_host_paths,
}


def _getter(field_name: str) -> Getter:
    """A cached accessor for one field: a direct dict walk first, the dotted-key/list walk as fallback."""
    virtual = VIRTUAL_FIELDS.get(field_name)
    parts = tuple(field_name.split("."))
    rests = tuple(".".join(parts[i:]) for i in range(len(parts)))

    def direct(event: dict[str, Any]) -> list[Any]:
        node: Any = event
        for i, part in enumerate(parts):
            if type(node) is dict:
                if part in node:
                    node = node[part]
                    continue
                if rests[i] in node:  # annotation-style key that holds the remaining dots
                    node = node[rests[i]]
                    break
                if any("." in k for k in node):  # some other split of the dotted keys
                    return _walk(event, parts)
                return []
            if type(node) is list:  # fan out over list elements
                return _walk(event, parts)
            return []
        return _flatten(node) if type(node) is list else [node]

    def get(event: dict[str, Any], cache: FieldCache) -> list[Any]:
        hit = cache.get(field_name)
        if hit is None:
            hit = cache[field_name] = virtual(event) if virtual is not None else direct(event)
        return hit

    return get


def _all_strings(node: Any) -> Iterator[str]:
    """Every string (and number, as text) anywhere in `node`, in document order; each container once.

    Iterative (no recursion limit on deep events) and visiting a shared container once: a keyword rule
    asks whether *any* value matches, which a second visit cannot change.
    """
    if not isinstance(node, dict | list):
        if isinstance(node, str):
            yield node
        elif isinstance(node, int | float) and not isinstance(node, bool):
            yield str(node)
        return
    seen: set[int] = {id(node)}
    stack: list[Iterator[Any]] = [iter(node.values() if isinstance(node, dict) else node)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, str):
                yield v
            elif isinstance(v, dict | list):
                if id(v) not in seen:
                    seen.add(id(v))
                    stack.append(iter(v.values() if isinstance(v, dict) else v))
                    break
            elif isinstance(v, int | float) and not isinstance(v, bool):
                yield str(v)
        else:
            stack.pop()
