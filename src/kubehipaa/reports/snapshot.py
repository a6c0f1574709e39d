"""A cluster snapshot as multi-document YAML: what `scan --cluster` listed, readable back by `kubehipaa scan`.

The objects arrive with Secret values already masked by the source (sources/cluster.py); the header names
the cluster, the server version, and every kind that could not be read, so the file never looks more
complete than the listing was. `kubehipaa scan FILE` reads it back to the same findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubehipaa.reports.manifests import dump_documents


def snapshot_yaml(context: str, git_version: str, objects: Sequence[dict[str, Any]],
                  unreadable: Sequence[str] = (), managed: str | None = None) -> str:
    """The snapshot text: a comment header, then one YAML document per object."""
    header = [f"# kubehipaa snapshot of cluster context {context} (server {git_version or 'unknown'})",
              f"# {len(objects)} objects; Secret values are never exported (key names only)"]
    if managed:
        header.append(f"# managed control plane ({managed}): scan with --managed {managed}")
    header.extend(f"# NOT READABLE: {line}" for line in unreadable)
    body = dump_documents(objects, indent_lists=False)
    return "\n".join(header) + "\n" + body
