"""Compliance frameworks as validated data; checks cite paragraph ids, the catalog gives them meaning."""

from kubehipaa.frameworks.hipaa import HipaaCatalog, Paragraph, load_hipaa

__all__ = ["HipaaCatalog", "Paragraph", "load_hipaa"]
