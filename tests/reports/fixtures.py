"""A small, self-contained scan for report tests: its own checks (not registered), its own manifests.

Report tests must not depend on which checks other areas have registered, so they run these three
stand-in checks over a known input and know exactly which findings to expect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from kubehipaa.checks.registry import Check, CheckMeta, Hit
from kubehipaa.config import Config, parse_config
from kubehipaa.inventory import Inventory
from kubehipaa.model import Severity
from kubehipaa.pipelines.scan import ScanResult, run_scan
from kubehipaa.sources.files import load_paths

MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: clinical
  labels:
    kubehipaa.io/phi: "true"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ehr-api
  namespace: clinical
spec:
  template:
    spec:
      containers:
        - name: api
          image: registry.example/ehr:latest
          securityContext:
            privileged: true
          env:
            - name: DB_PASSWORD
              value: hunter2-not-for-logs
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: billing
  namespace: finance
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/billing:latest
---
apiVersion: v1
kind: Service
metadata:
  name: ehr-nodeport
  namespace: clinical
spec:
  type: NodePort
"""

SECRET_VALUE = "hunter2-not-for-logs"


def _privileged(inv: Inventory) -> Iterator[Hit]:
    for ref in inv.pod_specs:
        for i, c in enumerate(ref.spec.get("containers") or []):
            if (c.get("securityContext") or {}).get("privileged"):
                yield Hit(ref.owner, f"container {c['name']} is privileged",
                          f"{ref.path}.containers[{i}].securityContext.privileged", True)


def _latest(inv: Inventory) -> Iterator[Hit]:
    for ref in inv.pod_specs:
        for i, c in enumerate(ref.spec.get("containers") or []):
            if str(c.get("image", "")).endswith(":latest"):
                yield Hit(ref.owner, f"image {c['image']} uses the mutable tag latest",
                          f"{ref.path}.containers[{i}].image", c["image"])


def _literal_secret(inv: Inventory) -> Iterator[Hit]:
    for ref in inv.pod_specs:
        for i, c in enumerate(ref.spec.get("containers") or []):
            for j, env in enumerate(c.get("env") or []):
                if "PASSWORD" in env.get("name", "") and "value" in env:
                    yield Hit(ref.owner, f"env {env['name']} carries a literal secret",
                              f"{ref.path}.containers[{i}].env[{j}].value", None, sensitive=True)


def _nodeport(inv: Inventory) -> Iterator[Hit]:
    for svc in inv.of_kind("Service"):
        if (svc.doc.get("spec") or {}).get("type") == "NodePort":
            yield Hit(svc, "Service is exposed on every node's port", "spec.type", "NodePort")


TEST_CHECKS = [
    Check(CheckMeta(id="KH-TST-001", title="Privileged container", area="workloads", severity=Severity.HIGH,
                    phi_severity=Severity.CRITICAL, hipaa=("164.312(a)(1)", "164.310(a)(2)(iii)"),
                    remediation="Set privileged: false.", relation="supports", cis=("5.2.1",),
                    pss=("privileged",)), _privileged),
    Check(CheckMeta(id="KH-TST-002", title="Image uses latest", area="images", severity=Severity.MEDIUM,
                    hipaa=("164.312(c)(2)",), remediation="Pin the image by digest."), _latest),
    Check(CheckMeta(id="KH-TST-003", title="Secret literal in env", area="secrets", severity=Severity.HIGH,
                    hipaa=("164.312(a)(2)(iv)", "164.308(a)(5)(ii)(D)"),
                    remediation="Use secretKeyRef."), _literal_secret),
    Check(CheckMeta(id="KH-TST-004", title="NodePort service", area="network", severity=Severity.LOW,
                    phi_severity=Severity.MEDIUM, hipaa=("164.312(e)(1)",),
                    remediation="Use ClusterIP behind an Ingress with TLS."), _nodeport),
]

CONFIG = {
    "exceptions": [
        {"check": "KH-TST-002", "resource": {"kind": "Deployment", "namespace": "finance", "name": "billing"},
         "justification": "vendor image, digest pinning tracked in TICKET-12", "owner": "platform-team",
         "expires": "2027-01-01"},
        {"check": "KH-TST-004", "resource": {"name": "ehr-nodeport"},
         "justification": "temporary debugging port", "owner": "alice", "expires": "2020-01-01"},
        {"check": "KH-TST-001", "resource": {"namespace": "nowhere"},
         "justification": "matches nothing", "owner": "bob", "expires": "2027-01-01"},
    ]
}


def make_result(tmp_path: Path) -> tuple[ScanResult, Config]:
    """Scan MANIFESTS (written to tmp_path/app/workloads.yaml) with TEST_CHECKS and CONFIG."""
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    (app / "workloads.yaml").write_text(MANIFESTS)
    (app / "junk.yaml").write_text("just: a mapping without kind\n")
    loaded = load_paths([str(app)])
    config = parse_config(CONFIG, "test-config")
    inv = Inventory(loaded.objects, config)
    result = run_scan(inv, config, checks=TEST_CHECKS, today=dt.date(2026, 6, 1))
    result.skipped = list(loaded.problems)
    return result, config
