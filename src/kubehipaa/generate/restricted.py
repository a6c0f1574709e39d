"""The restricted-profile security contexts kubehipaa's own workloads run with (the scanner CronJob, the
admission webhook): one definition, so both pass the Pod Security `restricted` level and our own KH-WL checks
the same way."""

from __future__ import annotations

from typing import Any

RUN_AS = 65532
"""A non-root uid/gid (the distroless `nonroot` user); any non-zero id works with the restricted profile."""


def pod_security_context() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
