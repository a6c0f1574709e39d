"""Type checks for the fields the engine reads: one wrong-typed field makes one object unusable, not the run.

The API server refuses an object whose field has the wrong type (a Service whose `spec` is a list, container
`ports` that are not a list, a policy peer that is not a mapping), so such an object never exists in a
cluster. Rather than crash midway, or read it as something it is not (a Deployment with `spec: 5` as a peer
without labels, which every `podSelector: {}` would select), the engine leaves the object out and names the
field. Each helper raises `NetpolError` with the field path; an absent field (None) keeps its default, since
defaulting is the API server's business, not a type error.
"""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.netpol.errors import NetpolError

SCALARS = (str, int, float, bool)


def kind_of(value: object) -> str:
    """How a wrong value is named in a message: the YAML/JSON type, not Python's."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def mapping(value: Any, path: str) -> dict[str, Any]:
    """`value` if it is a mapping, {} if absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise NetpolError(f"{path} must be a mapping, not {kind_of(value)}")
    return value


def mappings(value: Any, path: str) -> list[dict[str, Any]]:
    """`value` if it is a list of mappings, [] if absent."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise NetpolError(f"{path} must be a list, not {kind_of(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise NetpolError(f"{path}[{i}] must be a mapping, not {kind_of(item)}")
    return value


def text(value: Any, path: str) -> str | None:
    """A string field; None if absent."""
    if value is None or isinstance(value, str):
        return value
    raise NetpolError(f"{path} must be a string, not {kind_of(value)}")


def integer(value: Any, path: str) -> int | None:
    """An integer field (booleans are not integers); None if absent."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise NetpolError(f"{path} must be an integer, not {kind_of(value)}")


def int_or_string(value: Any, path: str) -> int | str | None:
    """An IntOrString field (a Service's port, targetPort; a backend's port)."""
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise NetpolError(f"{path} must be an integer or a string, not {kind_of(value)}")


def labels(value: Any, path: str) -> dict[str, str]:
    """A label map as text. Scalar values are read as their text (`version: 2`), as the engine always did;
    a nested list or mapping is a type error."""
    raw = mapping(value, path)
    out: dict[str, str] = {}
    for k, v in raw.items():
        if type(v) is not str:
            if v is not None and not isinstance(v, SCALARS):
                raise NetpolError(f"{path}.{k} must be a string, not {kind_of(v)}")
            v = "" if v is None else str(v)
        out[k if type(k) is str else str(k)] = v
    return out


def metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """The object's metadata, checked to be a mapping with a string name and namespace (called once per
    object, hence the inline test before the helpers that word an error)."""
    meta = doc.get("metadata")
    if type(meta) is dict:
        name, ns = meta.get("name"), meta.get("namespace")
        if (name is None or type(name) is str) and (ns is None or type(ns) is str):
            return meta
    meta = mapping(meta, "metadata")
    text(meta.get("name"), "metadata.name")
    text(meta.get("namespace"), "metadata.namespace")
    return meta
