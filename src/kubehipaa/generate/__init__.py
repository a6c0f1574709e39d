"""Generators: manifests kubehipaa hands to the user — the scanner's RBAC and CronJob, the hardened namespace
baseline, the cluster's audit policy and encryption config, time-bound break-glass access.

Each generator is a pure function returning plain dicts (one per Kubernetes object), so tests can validate
them against upstream schemas and scan them with our own checks; `reports.manifests` renders them as YAML.
"""

from __future__ import annotations

from kubehipaa.generate.audit_policy import audit_policy, audit_policy_rules
from kubehipaa.generate.break_glass import DEFAULT_ROLE as DEFAULT_BREAK_GLASS_ROLE
from kubehipaa.generate.break_glass import LONG_DURATION as LONG_BREAK_GLASS
from kubehipaa.generate.break_glass import (
    BreakGlassError,
    BreakGlassOptions,
    break_glass_binding,
    parse_expires,
    rfc3339,
)
from kubehipaa.generate.encryption_config import (
    DEFAULT_KMS_NAME,
    EncryptionOptionError,
    EncryptionOptions,
    encryption_config,
    new_key,
)
from kubehipaa.generate.namespace import NamespaceOptions, namespace_baseline
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

__all__ = ["DEFAULT_BREAK_GLASS_ROLE", "DEFAULT_KMS_NAME", "DEFAULT_NAME", "DEFAULT_NAMESPACE", "DEFAULT_SCHEDULE",
           "LONG_BREAK_GLASS", "BreakGlassError", "BreakGlassOptions", "CronJobOptions", "EncryptionOptionError",
           "EncryptionOptions", "HistoryTarget", "NamespaceOptions", "Subject", "audit_policy",
           "audit_policy_rules", "break_glass_binding", "encryption_config", "namespace_baseline", "new_key",
           "parse_expires", "rfc3339", "scanner_binding", "scanner_cluster_role", "scanner_cronjob",
           "scanner_rbac"]
