"""The remediations `kubehipaa fix` applies: pure functions over one ruamel round-trip object mapping.

Each fixer gets the object (a `CommentedMap`, the document or `List` item the finding is about) and the
finding, and edits the object in place. It returns True when it changed something, False when the field is
already right (an earlier fixer of the same run did it), and raises `NotFixable` with the reason when the
change is not safe or the object has a shape it does not expect: the finding then stays, and is reported as
not fixed. Where a finding points is taken from its evidence path (`spec.template.spec.containers[0]...`),
the path the check wrote from the Inventory's pod views, so the pod spec of every workload kind is found
the way the checks found it.

`FIXERS` maps each fixable check id to its fixer: the one table `fix` plans from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kubehipaa.engines.pss import LABEL_PREFIX, MAX_MINOR, PolicyError, parse_version
from kubehipaa.model import Finding

PSS_VERSION = f"v1.{MAX_MINOR}"
"""The version written in new `-version` labels: the newest the PSS engine knows (a cluster older than it
treats a newer version as `latest`, so the label never fails admission)."""

DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_MEMORY_LIMIT = "512Mi"


class NotFixable(Exception):
    """The fixer will not change this object; the message says why (shown to the user)."""


@dataclass(frozen=True, slots=True)
class FixOptions:
    default_limits: bool = False


@dataclass(frozen=True, slots=True)
class FixContext:
    """What a fixer knows beyond the object: the options, and the object as the scanner saw it (`rendered`:
    for a Kustomize tree the rendered object, whose container indexes may differ from the base file's, so
    containers are matched by name)."""

    options: FixOptions
    rendered: dict[str, Any] | None = None


Fixer = Callable[[CommentedMap, Finding, FixContext], bool]

_STEP = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


def parse_path(path: str) -> list[str | int]:
    """`spec.template.spec.containers[0].securityContext` -> ['spec', 'template', 'spec', 'containers', 0, ...]."""
    out: list[str | int] = []
    for part in path.split("."):
        m = _STEP.fullmatch(part)
        if m is None:
            raise NotFixable(f"unexpected evidence path {path!r}")
        out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def _walk(obj: CommentedMap, steps: list[str | int], what: str) -> CommentedMap:
    """The mapping at `steps` (each step must exist and be a mapping or list index)."""
    node: Any = obj
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, CommentedSeq) or step >= len(node):
                raise NotFixable(f"{what} not found at the finding's path")
            node = node[step]
        else:
            if not isinstance(node, CommentedMap) or step not in node:
                raise NotFixable(f"{what} not found at the finding's path")
            node = node[step]
    if not isinstance(node, CommentedMap):
        raise NotFixable(f"{what} is not a mapping")
    return _unshared(node)


def _unshared(node: CommentedMap) -> CommentedMap:
    """`node`, unless it is a YAML anchor other places refer to: editing it would change them too."""
    if getattr(getattr(node, "anchor", None), "value", None):
        raise NotFixable("the mapping is a YAML anchor used elsewhere; edit it by hand")
    if getattr(node, "merge", None):
        raise NotFixable("the mapping merges a YAML anchor (<<); edit it by hand")
    return node


def _child(parent: CommentedMap, key: str) -> CommentedMap:
    """parent[key] as a mapping, created (at the end) when absent; null counts as absent."""
    value = parent.get(key)
    if value is None:
        parent[key] = value = CommentedMap()
    if not isinstance(value, CommentedMap):
        raise NotFixable(f"{key} is not a mapping")
    return _unshared(value)


def _set(mapping: CommentedMap, key: str, value: Any) -> bool:
    if key in mapping and mapping[key] == value and type(mapping[key]) is type(value):
        return False
    mapping[key] = value
    return True


def _container_and_pod(obj: CommentedMap, finding: Finding, ctx: FixContext) -> tuple[CommentedMap, CommentedMap, str]:
    """(container, pod spec, container list) the finding's evidence path names. The container is the one of
    the same name as in the scanned object (by index only when the scanned object is not at hand)."""
    steps = parse_path(finding.evidence[0].path) if finding.evidence else []
    for i, step in enumerate(steps):
        if step in ("containers", "initContainers", "ephemeralContainers") and i + 1 < len(steps) \
                and isinstance(steps[i + 1], int):
            pod = _walk(obj, steps[:i], "pod spec")
            if ctx.rendered is None:
                return _walk(obj, steps[: i + 2], "container"), pod, str(step)
            name = _name_at(ctx.rendered, steps[: i + 2])
            for c in pod.get(str(step)) or ():
                if isinstance(c, CommentedMap) and c.get("name") == name:
                    return _unshared(c), pod, str(step)
            raise NotFixable(f"container {name} is not in this file (added by an overlay?)")
    raise NotFixable("the finding names no container")


def _name_at(doc: Any, steps: list[str | int]) -> Any:
    node = doc
    for step in steps:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise NotFixable("the finding's path is not in the scanned object") from None
    name = node.get("name") if isinstance(node, dict) else None
    if not name:
        raise NotFixable("the container has no name")
    return name


def _pod_spec(obj: CommentedMap, finding: Finding, suffix: str) -> CommentedMap:
    """The pod spec whose `<spec>.<suffix...>` the finding's evidence path names."""
    if not finding.evidence:
        raise NotFixable("the finding has no evidence path")
    path = finding.evidence[0].path
    n = len(suffix.split("."))
    steps = parse_path(path)
    if [str(s) for s in steps[-n:]] != suffix.split("."):
        raise NotFixable(f"unexpected evidence path {path!r}")
    return _walk(obj, steps[:-n], "pod spec")


def _is_pod_level(finding: Finding) -> bool:
    return not any(re.search(r"(containers|initContainers|ephemeralContainers)\[\d+\]", e.path)
                   for e in finding.evidence)


# ---- the fixers ------------------------------------------------------------------------------------------


def service_account_automount(obj: CommentedMap, _finding: Finding, _ctx: FixContext) -> bool:
    """KH-RBAC-010: automountServiceAccountToken: false on the ServiceAccount."""
    if obj.get("kind") != "ServiceAccount":
        raise NotFixable("not a ServiceAccount")
    return _set(obj, "automountServiceAccountToken", False)


def pod_automount(obj: CommentedMap, finding: Finding, _ctx: FixContext) -> bool:
    """KH-RBAC-011: automountServiceAccountToken: false in the pod spec (the pod-level field wins)."""
    return _set(_pod_spec(obj, finding, "automountServiceAccountToken"), "automountServiceAccountToken", False)


def drop_all_capabilities(obj: CommentedMap, finding: Finding, ctx: FixContext) -> bool:
    """KH-WL-005: add ALL to securityContext.capabilities.drop (entries already there are kept)."""
    container, _pod, _field = _container_and_pod(obj, finding, ctx)
    caps = _child(_child(container, "securityContext"), "capabilities")
    drop = caps.get("drop")
    if drop is None:
        caps["drop"] = CommentedSeq(["ALL"])
        return True
    if not isinstance(drop, CommentedSeq):
        raise NotFixable("capabilities.drop is not a list")
    if "ALL" in drop:
        return False
    drop.append("ALL")
    return True


def run_as_non_root(obj: CommentedMap, finding: Finding, ctx: FixContext) -> bool:
    """KH-WL-006: runAsNonRoot: true where the finding points (the pod's false, or the container)."""
    if _is_pod_level(finding):
        return _set(_child(_pod_spec(obj, finding, "securityContext.runAsNonRoot"), "securityContext"),
                    "runAsNonRoot", True)
    container, _pod, _field = _container_and_pod(obj, finding, ctx)
    return _set(_child(container, "securityContext"), "runAsNonRoot", True)


def no_privilege_escalation(obj: CommentedMap, finding: Finding, ctx: FixContext) -> bool:
    """KH-WL-008: allowPrivilegeEscalation: false on the container."""
    container, _pod, _field = _container_and_pod(obj, finding, ctx)
    return _set(_child(container, "securityContext"), "allowPrivilegeEscalation", False)


def read_only_root(obj: CommentedMap, finding: Finding, ctx: FixContext) -> bool:
    """KH-WL-009: readOnlyRootFilesystem: true, only where it is known not to break the container.

    The rule (docs/fix.md): the container must already mount a writable emptyDir at /tmp, the one place
    nearly every runtime writes; that mount shows the workload was built to run with a read-only root.
    Without it the image may write anywhere (caches, pid files, nginx's /var/cache) and a read-only root
    would make it crash: the finding stays for a person to decide.
    """
    container, pod, _field = _container_and_pod(obj, finding, ctx)
    emptydirs = {
        str(v.get("name")) for v in pod.get("volumes") or () if isinstance(v, dict) and "emptyDir" in v
    }
    for mount in container.get("volumeMounts") or ():
        if not isinstance(mount, dict):
            continue
        where = str(mount.get("mountPath") or "").rstrip("/")
        if where == "/tmp" and mount.get("readOnly") is not True and str(mount.get("name")) in emptydirs:
            return _set(_child(container, "securityContext"), "readOnlyRootFilesystem", True)
    raise NotFixable("no writable emptyDir mounted at /tmp: a read-only root may break the container "
                     "(mount one, test, then set readOnlyRootFilesystem: true)")


def seccomp_runtime_default(obj: CommentedMap, finding: Finding, ctx: FixContext) -> bool:
    """KH-WL-010: seccompProfile RuntimeDefault. An Unconfined (or unknown) type is replaced where it is
    written; a container with none (and none on the pod) gets it on the pod, which covers every container."""
    path = finding.evidence[0].path if finding.evidence else ""
    if _is_pod_level(finding):
        sc = _child(_pod_spec(obj, finding, "securityContext.seccompProfile.type"), "securityContext")
        return _runtime_default(sc)
    if path.endswith(".type"):  # the container's own profile is wrong
        container, _pod, _field = _container_and_pod(obj, finding, ctx)
        return _runtime_default(_child(container, "securityContext"))
    steps = parse_path(path)
    at = next((i for i, s in enumerate(steps) if s in ("containers", "initContainers", "ephemeralContainers")), None)
    if at is None:
        raise NotFixable(f"unexpected evidence path {path!r}")
    return _runtime_default(_child(_walk(obj, steps[:at], "pod spec"), "securityContext"))


def _runtime_default(sc: CommentedMap) -> bool:
    profile = sc.get("seccompProfile")
    if isinstance(profile, CommentedMap):
        if profile.get("type") == "RuntimeDefault" and "localhostProfile" not in profile:
            return False
        profile["type"] = "RuntimeDefault"
        profile.pop("localhostProfile", None)  # only valid with type Localhost
        return True
    if profile is not None:
        raise NotFixable("seccompProfile is not a mapping")
    sc["seccompProfile"] = CommentedMap([("type", "RuntimeDefault")])
    return True


def default_resources(obj: CommentedMap, finding: Finding, ctx: FixContext) -> bool:
    """KH-WL-011 (only with --default-limits): fill in the missing requests.cpu, requests.memory and
    limits.memory. A value the container already has is reused (a memory request equal to its limit, a CPU
    request equal to its CPU limit), so a request never exceeds a limit; otherwise 100m / 128Mi / 512Mi."""
    if not ctx.options.default_limits:
        raise NotFixable("resource defaults are written only with --default-limits")
    container, _pod, _field = _container_and_pod(obj, finding, ctx)
    res = _child(container, "resources")
    req, lim = _child(res, "requests"), _child(res, "limits")
    changed = False
    if req.get("cpu") in (None, ""):
        changed |= _set(req, "cpu", lim.get("cpu") or DEFAULT_REQUESTS["cpu"])
    if req.get("memory") in (None, ""):
        changed |= _set(req, "memory", lim.get("memory") or DEFAULT_REQUESTS["memory"])
    if lim.get("memory") in (None, ""):
        explicit = req.get("memory") not in (None, "", DEFAULT_REQUESTS["memory"])
        changed |= _set(lim, "memory", req["memory"] if explicit else DEFAULT_MEMORY_LIMIT)
    return changed


def psa_enforce(obj: CommentedMap, _finding: Finding, _ctx: FixContext) -> bool:
    """KH-NS-001: enforce=restricted (and enforce-version pinned when it has none)."""
    return _psa(obj, ("enforce",), level=True)


def psa_audit_warn(obj: CommentedMap, _finding: Finding, _ctx: FixContext) -> bool:
    """KH-NS-002: audit=restricted and warn=restricted (each -version pinned when it has none)."""
    return _psa(obj, ("audit", "warn"), level=True)


def psa_version(obj: CommentedMap, finding: Finding, _ctx: FixContext) -> bool:
    """KH-NS-003: pin the unpinned (missing or `latest`) -version label the finding names."""
    path = finding.evidence[0].path if finding.evidence else ""
    mode = path.removeprefix(f"metadata.labels.{LABEL_PREFIX}").removesuffix("-version")
    if mode not in ("enforce", "audit", "warn"):
        raise NotFixable(f"unexpected evidence path {path!r}")
    labels = _labels(obj)
    return _set(labels, f"{LABEL_PREFIX}{mode}-version", PSS_VERSION)


def _pinned(value: Any) -> bool:
    """A -version label the API server reads as a pinned version (not missing, `latest` or unparsable)."""
    if value is None:
        return False
    try:
        return not parse_version(str(value)).latest
    except PolicyError:
        return False


def _labels(obj: CommentedMap) -> CommentedMap:
    if obj.get("kind") != "Namespace":
        raise NotFixable("the finding is not on a Namespace object (add the labels where it is declared)")
    return _child(_child(obj, "metadata"), "labels")


def _psa(obj: CommentedMap, modes: tuple[str, ...], *, level: bool) -> bool:
    labels = _labels(obj)
    changed = False
    for mode in modes:
        if level:
            changed |= _set(labels, f"{LABEL_PREFIX}{mode}", "restricted")
        if not _pinned(labels.get(f"{LABEL_PREFIX}{mode}-version")):
            changed |= _set(labels, f"{LABEL_PREFIX}{mode}-version", PSS_VERSION)
    return changed


FIXERS: dict[str, Fixer] = {
    "KH-RBAC-010": service_account_automount,
    "KH-RBAC-011": pod_automount,
    "KH-WL-005": drop_all_capabilities,
    "KH-WL-006": run_as_non_root,
    "KH-WL-008": no_privilege_escalation,
    "KH-WL-009": read_only_root,
    "KH-WL-010": seccomp_runtime_default,
    "KH-WL-011": default_resources,
    "KH-NS-001": psa_enforce,
    "KH-NS-002": psa_audit_warn,
    "KH-NS-003": psa_version,
}
"""check id -> the fixer that clears it (edits the object the finding points to)."""

NEW_FILE_FIXES: frozenset[str] = frozenset({"KH-NET-001"})
"""Check ids cleared by a new file instead of an edit: a default-deny NetworkPolicy per PHI namespace
(`planner.default_deny`); a user's own policies are never edited."""

OPT_IN: frozenset[str] = frozenset({"KH-WL-011"})
"""Fixers that run only when asked (`--default-limits`): the values are a guess about the workload."""

FIXABLE: frozenset[str] = frozenset(FIXERS) | NEW_FILE_FIXES
