"""`kubehipaa fix`: comment-preserving round-trip edits that apply the safe remediations to users' manifests.

`fixers` (pure functions over ruamel mappings, and the check id -> fixer table), `planner` (findings ->
edits and new files), `files` (the only module that reads, splices and writes files). The scan before and
after is `pipelines.fix`; rendering is `reports.fix`. See docs/fix.md.
"""

from kubehipaa.fix.fixers import FIXABLE, FIXERS, NEW_FILE_FIXES, FixOptions, NotFixable
from kubehipaa.fix.planner import DEFAULT_DENY_NAME, FileChange, NotFixed, Plan, fixable, plan

__all__ = [
    "DEFAULT_DENY_NAME",
    "FIXABLE",
    "FIXERS",
    "NEW_FILE_FIXES",
    "FileChange",
    "FixOptions",
    "NotFixable",
    "NotFixed",
    "Plan",
    "fixable",
    "plan",
]
