"""Generators: manifests kubehipaa hands to the user (the scanner's RBAC and CronJob; later hardened baselines).

Each generator is a pure function returning plain dicts (one per Kubernetes object), so tests can validate
them against upstream schemas and scan them with our own checks; `reports.manifests` renders them as YAML.
"""

from __future__ import annotations

from kubehipaa.generate.scanner import (
    DEFAULT_NAME,
    DEFAULT_NAMESPACE,
    DEFAULT_SCHEDULE,
    CronJobOptions,
    HistoryTarget,
    Subject,
    scanner_binding,
    scanner_cluster_role,
    scanner_cronjob,
    scanner_rbac,
)

__all__ = ["DEFAULT_NAME", "DEFAULT_NAMESPACE", "DEFAULT_SCHEDULE", "CronJobOptions", "HistoryTarget", "Subject",
           "scanner_binding", "scanner_cluster_role", "scanner_cronjob", "scanner_rbac"]

from kubehipaa.generate.namespace import NamespaceOptions, namespace_baseline  # issue 17

__all__ += ["NamespaceOptions", "namespace_baseline"]
