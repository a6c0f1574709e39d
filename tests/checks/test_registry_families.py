"""Every check module is imported and a failed import is loud (issue 13 req 1).

`checks/__init__.py` used to skip an area module that could not be found, so a renamed or missing module
switched a whole rule family off and the scan looked cleaner than the truth. Now the imports are plain
statements: these tests prove every module's family is registered and that a missing one stops the import.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import kubehipaa.checks
from kubehipaa.checks.registry import all_checks

CHECKS = Path(kubehipaa.checks.__file__).resolve().parent

# module -> (id prefix, checks it registers today: a family may grow, never shrink unnoticed)
FAMILIES = {
    "apiserver": ("KH-API", 21),
    "audit_policy": ("KH-AUD", 9),
    "encryption": ("KH-ENC", 8),
    "images": ("KH-IMG", 3),
    "kubelet": ("KH-KUB", 9),
    "namespaces": ("KH-NS", 4),
    "network": ("KH-NET", 9),
    "pod_security": ("KH-PSS", 2),
    "rbac": ("KH-RBAC", 14),
    "secrets": ("KH-SEC", 8),
    "workloads": ("KH-WL", 13),
}


def test_every_check_module_is_a_known_family() -> None:
    modules = {p.stem for p in CHECKS.glob("*.py") if not p.stem.startswith("_") and p.stem != "registry"}
    assert modules == set(FAMILIES)


def test_the_registry_holds_every_family() -> None:
    by_module = Counter((c.fn.__module__.rsplit(".", 1)[-1], c.meta.id.rsplit("-", 1)[0]) for c in all_checks())
    for module, (prefix, at_least) in FAMILIES.items():
        assert f"kubehipaa.checks.{module}" in sys.modules
        assert by_module[(module, prefix)] >= at_least, (module, prefix, by_module[(module, prefix)])
    assert {prefix for _, prefix in by_module} == {prefix for prefix, _ in FAMILIES.values()}


def test_a_missing_check_module_fails_the_import() -> None:
    """A check module that cannot be imported stops the program (with its error), never a silent gap."""
    probe = textwrap.dedent("""
        import importlib.abc, sys

        class Missing(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "kubehipaa.checks.kubelet":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Missing())
        try:
            import kubehipaa.checks
        except ImportError as exc:
            print("failed:", exc)
        else:
            from kubehipaa.checks.registry import all_checks
            print("imported:", sorted({c.meta.id.rsplit("-", 1)[0] for c in all_checks()}))
    """)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip()
    assert out.startswith("failed:") and "kubelet" in out, out
