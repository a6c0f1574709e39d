"""Small manifests and a scan helper for the history tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kubehipaa.config import Config
from kubehipaa.pipelines.scan import ScanRun, scan
from kubehipaa.sources.files import load_paths

NAMESPACE = """apiVersion: v1
kind: Namespace
metadata:
  name: clinical
  labels: {kubehipaa.io/phi: "true"}
"""


def deployment(name: str, *, privileged: bool = True, host_pid: bool = False, namespace: str = "clinical") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      hostPID: {str(host_pid).lower()}
      containers:
      - name: api
        image: registry.example/{name}:1.0
        securityContext: {{privileged: {str(privileged).lower()}}}
"""


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def run(paths: Sequence[Path | str], config: Config | None = None) -> ScanRun:
    return scan(load_paths([str(p) for p in paths]), config or Config())
