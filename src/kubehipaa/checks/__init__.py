"""Check modules, one per control area. Importing this package registers every check.

Each area module registers its checks on import. The imports are plain statements on purpose: a module
that is missing or fails to import stops the program with its error. A rule family silently left out would
make a scan look cleaner than the truth, and a clean scan is used as evidence.
"""

from __future__ import annotations

from kubehipaa.checks import (
    apiserver,
    audit_policy,
    encryption,
    images,
    kubelet,
    namespaces,
    network,
    pod_security,
    rbac,
    secrets,
    workloads,
)

__all__ = [
    "apiserver",
    "audit_policy",
    "encryption",
    "images",
    "kubelet",
    "namespaces",
    "network",
    "pod_security",
    "rbac",
    "secrets",
    "workloads",
]
