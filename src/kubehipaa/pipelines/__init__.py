"""Pipelines: one function per command that wires sources, the inventory, engines and checks into a result.

Why a layer of its own: the CLI, the audit webhook server, the evidence report and tests all run the same
work; a pipeline is that work without option parsing or rendering, so none of them re-implements it. A
pipeline may read through `sources/` (it is handed paths or loaded objects) but never renders or prints.
"""
