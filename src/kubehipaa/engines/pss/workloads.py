"""Find the pod template inside every kind that creates pods, as upstream's PodSpecExtractor does.

Which kinds and where: `kubehipaa.workload_kinds`, the table the Inventory and the other engines share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubehipaa.engines.pss.evaluate import PodSpecError
from kubehipaa.workload_kinds import POD_TEMPLATE_PATHS
from kubehipaa.workload_kinds import WORKLOAD_KINDS as POD_KINDS

__all__ = ["POD_KINDS", "PodTemplate", "extract"]


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """The pod metadata and spec of a workload, and the dotted path of the spec in the document."""

    meta: dict[str, Any]
    spec: dict[str, Any]
    path: str


def extract(doc: dict[str, Any]) -> PodTemplate | None:
    """Pod metadata+spec of a Pod or workload document; None for kinds that create no pods.

    Raises PodSpecError when the template is present but not shaped like one.
    """
    kind = doc.get("kind")
    if kind not in POD_TEMPLATE_PATHS:
        return None
    node: Any = doc
    walked: list[str] = []
    for key in POD_TEMPLATE_PATHS[str(kind)]:
        walked.append(key)
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            raise PodSpecError(f"{kind} has no {'.'.join(walked)}")
        if not isinstance(node, dict):
            raise PodSpecError(f"{kind} {'.'.join(walked)} is not a mapping")
    meta = node.get("metadata") or {}
    spec = node.get("spec")
    prefix = ".".join(walked)
    spec_path = f"{prefix}.spec" if prefix else "spec"
    if spec is None:
        raise PodSpecError(f"{kind} has no {spec_path}")
    if not isinstance(spec, dict) or not isinstance(meta, dict):
        raise PodSpecError(f"{kind} {spec_path} is not a mapping")
    return PodTemplate(meta, spec, spec_path)
