"""Kubernetes objects as multi-document YAML: what `generate` emits and `snapshot` exports.

Block style, keys in the order the generator or the API gave them, no line wrapping (a long value stays on
one line, so a diff of two runs is a diff of values), `---` before each document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Block style, keys in their given order; lists indented under their key (kubectl's style)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump_documents(docs: Sequence[dict[str, Any]], *, indent_lists: bool = True) -> str:
    """`docs` as YAML documents, each starting with `---`."""
    dumper = _Dumper if indent_lists else yaml.SafeDumper
    return yaml.dump_all(list(docs), Dumper=dumper, sort_keys=False, default_flow_style=False,
                         allow_unicode=True, explicit_start=True, width=1 << 30)


def manifests_yaml(docs: Sequence[dict[str, Any]], header: Sequence[str] = ()) -> str:
    """Generated manifests: `# ` comment lines, then the documents (`kubectl apply -f` reads it as is)."""
    return "".join(f"# {line}\n" for line in header) + dump_documents(docs)


def commented_manifests(items: Sequence[tuple[Sequence[str], dict[str, Any]]], header: Sequence[str] = ()) -> str:
    """Generated manifests where each document is preceded by its own `# ` comment lines (why the object
    exists, which HIPAA paragraph it serves): `kubectl apply -f` ignores comments, a reviewer reads them.

    Comments go before the document's `---` line, so they never become part of a YAML value."""
    out = ["".join(f"# {line}\n" if line else "#\n" for line in header)]
    for comments, doc in items:
        if out[-1] and not out[-1].endswith("\n\n"):
            out.append("\n")
        out.append("".join(f"# {line}\n" if line else "#\n" for line in comments))
        out.append(dump_documents([doc]))
    return "".join(out).lstrip("\n")
