"""A generated document whose list items each carry their own comment (the rules of an audit Policy).

`reports.manifests.commented_manifests` comments whole documents; a reviewer of an audit Policy needs the
reason for EACH rule next to it, because rule order decides what is recorded (first match wins) and a rule
moved or edited without its reason is how a policy silently stops recording. Comments are whole lines of
their own (`# ...`), never inside a value, so the YAML parses to exactly the document given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from kubehipaa.reports.manifests import commented_manifests


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key (the style of `reports.manifests`)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def commented_list_manifest(comments: Sequence[str], doc: dict[str, Any], key: str,
                            item_comments: Sequence[Sequence[str]], header: Sequence[str] = ()) -> str:
    """`doc` as one YAML document, its last key `key` a list whose i-th item is preceded by `item_comments[i]`.

    The document's other keys are rendered by `commented_manifests` (so it looks like every generated
    manifest); `key` must be the last key, so appending the list after them keeps the key order."""
    items = doc.get(key)
    if not isinstance(items, list) or list(doc)[-1] != key or len(item_comments) != len(items):
        raise ValueError(f"{key!r} must be the document's last key, a list with one comment block per item")
    head = {k: v for k, v in doc.items() if k != key}
    out = [commented_manifests([(comments, head)], header), f"{key}:\n"]
    for lines, item in zip(item_comments, items, strict=True):
        out.append("".join(f"  # {line}\n" if line else "  #\n" for line in lines))
        body = yaml.dump([item], Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                         width=1 << 30)
        out.append("".join(f"  {line}\n" for line in body.splitlines()))
    return "".join(out)
