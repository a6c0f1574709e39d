"""Compliance frameworks as validated data; rules cite paragraph ids, the catalog gives them meaning.

- `hipaa` (`load_hipaa`, `HipaaCatalog`, `Paragraph`): the HIPAA Security Rule catalog, `hipaa.yaml`, validated
  with pydantic; per paragraph it lists the built-in rules that satisfy or support it.
- `rules` (`RuleMeta`, `validate`): the one rule-metadata type and validator every rule registry uses.
- `hipaa_ids`: the catalog's paragraph ids, generated from `hipaa.yaml` (`scripts/gen_frameworks.py`).

The catalog names are imported on first use (PEP 562): `frameworks.rules` is imported when the audit-log
catalog is built, and that start-up must not pay for YAML and pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubehipaa.frameworks.hipaa import HipaaCatalog, Paragraph, load_hipaa

__all__ = ["HipaaCatalog", "Paragraph", "load_hipaa"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from kubehipaa.frameworks import hipaa

        return getattr(hipaa, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
