"""Check modules, one per control area. Importing this package registers every check."""

from __future__ import annotations

import importlib

# Each area module registers its checks on import. A module that does not exist yet is skipped so the
# catalog grows area by area; `kubehipaa checks list` shows what is registered.
AREAS = (
    "workloads",
    "images",
    "secrets",
    "rbac",
    "network",
    "pod_security",
    "namespaces",
    "apiserver",
    "encryption",
    "audit_policy",
    "kubelet",
)

for _area in AREAS:
    try:
        importlib.import_module(f"{__name__}.{_area}")
    except ModuleNotFoundError as exc:  # only a missing area module is tolerated, never a broken one
        if exc.name != f"{__name__}.{_area}":
            raise
