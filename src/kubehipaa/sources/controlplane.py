"""Control-plane files as Inventory objects: kube-apiserver, EncryptionConfiguration, audit Policy, kubelet.

YAML documents (the kube-apiserver and etcd static Pods, ``EncryptionConfiguration``/``EncryptionConfig``, the
audit ``Policy``, ``KubeletConfiguration``) are loaded with :func:`kubehipaa.sources.files.load_paths` and are
ordinary objects.  Non-YAML inputs become synthetic objects (``apiVersion: kubehipaa.io/v1alpha1``):

* ``KubeAPIServerFlags`` / ``KubeletFlags`` - ``spec.args`` holds the tokens of a flags file
  (``kubeadm-flags.env``, ``/etc/default/kubelet``, a systemd unit, or one flag per line);
* ``ControlPlaneScan`` - a marker that says control-plane scanning was requested (``spec.managed`` names
  a managed provider), so the "not assessed" checks can say so instead of silently passing.

File facts live in ``K8sObject.extra``: ``file_mode`` (int, permission bits) for every file we read, and on
the marker, ``spec.missing`` lists files the apiserver flags point to that could not be found.

Path following: ``--encryption-provider-config`` and ``--audit-policy-file`` are absolute paths on the
node.  When scanning a copy of the node's ``/etc/kubernetes`` elsewhere, an absolute path that does not
exist is looked up relative to the control-plane directory (``/etc/kubernetes/x`` -> ``DIR/x``, any other
``/a/b`` -> ``DIR/a/b``, then ``DIR/<basename>``).

This module only reads files: what a document or container *is* (an API server, an audit Policy, ...) is
decided by the engine's classifier (:mod:`kubehipaa.engines.controlplane`), the one the checks read too.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kubehipaa.engines.controlplane import (
    APISERVER_FLAGS_KIND,
    AUDIT_POLICY_KIND,
    CONFIG_KINDS,
    ENCRYPTION_KINDS,
    KUBELET_CONFIG_KIND,
    KUBELET_FLAGS_KIND,
    MARKER_KIND,
    apiserver_containers,
    container_flags,
    etcd_containers,
    is_config,
    parse_args,
    tokens_from_text,
)
from kubehipaa.errors import InputError
from kubehipaa.model import K8sObject
from kubehipaa.sources import limits, reading
from kubehipaa.sources.files import InputProblem, load_paths

SYNTH_API_VERSION = "kubehipaa.io/v1alpha1"
MANAGED_PROVIDERS = ("eks", "gke", "aks")
APISERVER_MANIFESTS = ("manifests/kube-apiserver.yaml", "manifests/kube-apiserver.yml", "kube-apiserver.yaml")
ETCD_MANIFESTS = ("manifests/etcd.yaml", "manifests/etcd.yml", "etcd.yaml")
KUBELET_FLAG_FILES = ("kubeadm-flags.env", "kubelet.env", "kubelet-flags.env", "default/kubelet")
NODE_KUBELET_FILES = (
    "/var/lib/kubelet/config.yaml",
    "/var/lib/kubelet/kubeadm-flags.env",
    "/etc/default/kubelet",
    "/etc/sysconfig/kubelet",
)

PathLike = str | os.PathLike[str]


def flags_object(tokens: list[str], file: str, kind: str, name: str) -> K8sObject:
    doc = {
        "apiVersion": SYNTH_API_VERSION,
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"args": tokens},
    }
    return K8sObject(doc, file, 1)


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


_FLAG = re.compile(r"--?[A-Za-z]")


def _looks_like_yaml_object(text: str) -> bool:
    return any(line.startswith(("apiVersion:", "kind:", "{")) for line in text.splitlines()[:50])


def _read_text(path: Path) -> str:
    """A control-plane file's text: a regular file, within --max-file-bytes (`sources.reading`)."""
    try:
        return reading.read_file(path, limits.current().file_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=str(path)) from None
    except reading.ReadRefused as exc:
        raise InputError(exc.reason, file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None


def _require_file(path: Path) -> None:
    """A path given on the command line must be a regular file (it is read twice: to tell YAML from flags,
    then to load it): say what it is otherwise (a FIFO would block, a device never end)."""
    try:
        what = reading.describe(path.stat().st_mode)
    except FileNotFoundError:
        raise InputError("no such file", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    if what is not None:
        raise InputError(f"is {what}, not a regular file", file=str(path))


class _Collector:
    """Accumulates objects, de-duplicated by resolved file path."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.objects: list[K8sObject] = []
        self.seen: set[str] = set()
        self.missing: list[dict[str, str]] = []
        self.last_problems: list[InputProblem] = []  # of the last file add_yaml read

    def _mark_seen(self, path: Path) -> bool:
        key = str(path.resolve())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def add_yaml(
        self, path: Path, *, kinds: Iterable[str] | None = None, pods: bool = True
    ) -> list[K8sObject]:
        """Load a YAML/JSON file; keep control-plane kinds (and apiserver Pods when ``pods``)."""
        if not self._mark_seen(path):
            return []
        loaded = load_paths([str(path)])
        self.last_problems = loaded.problems
        wanted = set(kinds) if kinds is not None else set(CONFIG_KINDS)
        kept: list[K8sObject] = []
        mode = _mode(path)
        for obj in loaded.objects:
            keep = (obj.kind in wanted and is_config(obj)) or (
                pods and bool(apiserver_containers(obj) or etcd_containers(obj))
            )
            if keep:
                if mode is not None:
                    obj.extra["file_mode"] = mode
                if not obj.name:
                    # Config files have no metadata.name; the file name is what an operator recognises.
                    obj.name = path.name
                kept.append(obj)
        self.objects.extend(kept)
        return kept

    def add_flags(self, path: Path, kind: str, name: str) -> K8sObject | None:
        if not self._mark_seen(path):
            return None
        tokens = tokens_from_text(_read_text(path))
        if not any(_FLAG.match(t) for t in tokens):
            # An empty file, or YAML that is no manifest (a list, a scalar, only `---`): judging "no flags
            # set" would report every default as the cluster's configuration.
            what = (
                "a KubeletConfiguration (YAML with apiVersion and kind) nor kubelet"
                if kind == KUBELET_FLAGS_KIND
                else "a kube-apiserver static Pod manifest (YAML with apiVersion and kind) nor its"
            )
            raise InputError(f"neither {what} command-line flags", file=str(path))
        obj = flags_object(tokens, str(path), kind, name)
        mode = _mode(path)
        if mode is not None:
            obj.extra["file_mode"] = mode
        self.objects.append(obj)
        return obj

    def resolve(self, raw: str, base: Path | None) -> Path | None:
        """Find a file named by a flag on this machine, or inside the scanned control-plane copy."""
        p = Path(raw)
        candidates: list[Path] = []
        if p.is_absolute():
            candidates.append(p)
            for root in (self.root, base):
                if root is None:
                    continue
                text = raw
                if text.startswith("/etc/kubernetes/"):
                    candidates.append(root / text[len("/etc/kubernetes/") :])
                candidates.append(root / text.lstrip("/"))
                candidates.append(root / p.name)
        else:
            for root in (base, self.root):
                if root is not None:
                    candidates.append(root / p)
            candidates.append(p)
        for c in candidates:
            if reading.is_file(c):
                return c
        return None

    def follow_apiserver_flags(self, obj: K8sObject, base: Path | None) -> None:
        """Load the EncryptionConfiguration and audit Policy that the apiserver's flags point to."""
        flag_sets = []
        if obj.kind == APISERVER_FLAGS_KIND:
            flag_sets.append(parse_args([str(t) for t in obj.doc["spec"]["args"]]))
        else:
            flag_sets.extend(container_flags(c) for _, c in apiserver_containers(obj))
        for pf in flag_sets:
            for flag, kinds in (
                ("encryption-provider-config", ENCRYPTION_KINDS),
                ("audit-policy-file", (AUDIT_POLICY_KIND,)),
            ):
                raw = pf.get(flag)
                if not raw:
                    continue
                found = self.resolve(raw, base)
                if found is None:
                    self.missing.append({"flag": f"--{flag}", "path": raw})
                    continue
                first = str(found.resolve()) not in self.seen
                if not self.add_yaml(found, kinds=kinds, pods=False) and first:
                    # The file exists but could not be read: the API server would not start with it either.
                    err = _unreadable(self, found, "")
                    if err.message:
                        raise err


def _unreadable(col: _Collector, path: Path, fallback: str) -> InputError:
    """The error for a file that yielded nothing: its YAML/JSON error with the line when there is one, else
    `fallback` with the first document the loader had to skip (`document has no 'kind'`: a wrong-typed
    kind), so the user is pointed at the line."""
    for problem in col.last_problems:
        if problem.message.startswith(("malformed", "not UTF-8")):
            return InputError(problem.message.split(";")[0], file=problem.file, line=problem.line)
    for problem in col.last_problems:
        if fallback and problem.line is not None:
            return InputError(f"{fallback} ({problem.message.split(';')[0]})", file=problem.file, line=problem.line)
    return InputError(fallback, file=str(path))


def _load_apiserver(col: _Collector, path: Path) -> None:
    _require_file(path)
    text = _read_text(path)
    if _looks_like_yaml_object(text):
        kept = col.add_yaml(path)
        pods = [o for o in kept if apiserver_containers(o)]
        if not pods:
            raise _unreadable(col, path, "no kube-apiserver container found in this manifest")
        for obj in pods:
            col.follow_apiserver_flags(obj, path.parent)
        return
    flags_obj = col.add_flags(path, APISERVER_FLAGS_KIND, "kube-apiserver")
    if flags_obj is not None:
        col.follow_apiserver_flags(flags_obj, path.parent)


def _load_expected(col: _Collector, path: Path, kinds: tuple[str, ...], what: str) -> None:
    _require_file(path)
    before = len(col.objects)
    already = str(path.resolve()) in col.seen
    col.add_yaml(path, kinds=kinds, pods=False)
    if not already and len(col.objects) == before:
        raise _unreadable(col, path, f"does not contain {what}")


def _load_kubelet(col: _Collector, path: Path) -> None:
    _require_file(path)
    text = _read_text(path)
    if _looks_like_yaml_object(text):
        _load_expected(col, path, (KUBELET_CONFIG_KIND,), "a KubeletConfiguration")
    else:
        col.add_flags(path, KUBELET_FLAGS_KIND, "kubelet")


def collect_control_plane(
    control_plane_dir: PathLike | None = None,
    apiserver_manifest: PathLike | None = None,
    encryption_config: PathLike | None = None,
    audit_policy: PathLike | None = None,
    kubelet_config: PathLike | None = None,
    managed: str | None = None,
) -> list[K8sObject]:
    """Read the control-plane evidence that was asked for and return it as objects.

    Always returns a ``ControlPlaneScan`` marker first, so the checks can report what could not be assessed.
    Raises :class:`InputError` (exit 2) for a path that was given explicitly but is missing or of the wrong
    kind; files found by following flags are best effort and reported on the marker when missing.
    """
    if managed is not None and managed.lower() not in MANAGED_PROVIDERS:
        raise InputError(f"--managed must be one of {', '.join(MANAGED_PROVIDERS)} (got {managed!r})")
    root = Path(control_plane_dir) if control_plane_dir is not None else None
    col = _Collector(root)
    if root is not None:
        if not reading.is_dir(root):
            raise InputError("not a directory", file=str(root))
        for rel in APISERVER_MANIFESTS:
            cand = root / rel
            if reading.is_file(cand):
                _load_apiserver(col, cand)
                break
        for rel in ETCD_MANIFESTS:
            cand = root / rel
            if reading.is_file(cand):
                col.add_yaml(cand, kinds=())
                break
        # Other control-plane documents anywhere under the directory (kubeconfigs and the like are ignored).
        for obj in load_paths([str(root)]).objects:
            if is_config(obj):
                col.add_yaml(Path(obj.file))
        for rel in KUBELET_FLAG_FILES:
            cand = root / rel
            if reading.is_file(cand):
                col.add_flags(cand, KUBELET_FLAGS_KIND, "kubelet")
        if root.resolve() == Path("/etc/kubernetes"):
            for node_file in NODE_KUBELET_FILES:
                p = Path(node_file)
                if reading.is_file(p):
                    _load_kubelet(col, p)
        if not col.objects:
            # Silence would read as "nothing to report": say that nothing was found to assess.
            raise InputError(
                "no kube-apiserver manifest, EncryptionConfiguration, audit Policy or kubelet configuration "
                "found in this directory",
                file=str(root),
            )
    if apiserver_manifest is not None:
        _load_apiserver(col, Path(apiserver_manifest))
    if encryption_config is not None:
        _load_expected(col, Path(encryption_config), ENCRYPTION_KINDS, "an EncryptionConfiguration")
    if audit_policy is not None:
        _load_expected(col, Path(audit_policy), (AUDIT_POLICY_KIND,), "an audit Policy (audit.k8s.io/v1)")
    if kubelet_config is not None:
        _load_kubelet(col, Path(kubelet_config))
    requested = {
        "controlPlaneDir": str(root) if root is not None else None,
        "apiserverManifest": str(apiserver_manifest) if apiserver_manifest is not None else None,
        "encryptionConfig": str(encryption_config) if encryption_config is not None else None,
        "auditPolicy": str(audit_policy) if audit_policy is not None else None,
        "kubeletConfig": str(kubelet_config) if kubelet_config is not None else None,
    }
    marker_doc: dict[str, Any] = {
        "apiVersion": SYNTH_API_VERSION,
        "kind": MARKER_KIND,
        "metadata": {"name": "control-plane"},
        "spec": {
            "managed": managed.lower() if managed else None,
            "requested": {k: v for k, v in requested.items() if v is not None},
            "missing": col.missing,
        },
    }
    marker_file = str(root or apiserver_manifest or encryption_config or audit_policy or kubelet_config or "")
    marker = K8sObject(marker_doc, marker_file or "<control-plane>", 1)
    return [marker, *col.objects]
