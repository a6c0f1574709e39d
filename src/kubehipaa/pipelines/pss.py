"""The Pod Security Standards pipelines: loaded objects → verdicts, as the API server's admission would give them.

One function per `kubehipaa pss` command (`evaluate`, `dry_run`, `namespaces`); each hands pod templates to
the pure engine (`kubehipaa.engines.pss`) and returns a result `reports.pss` renders. Nothing here prints: an
object whose pod spec cannot be evaluated becomes an `InputProblem` (lost input) in the result's `problems`,
and the caller says it and exits 2 after the verdicts on the rest, so one broken object hides nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.engines import pss
from kubehipaa.errors import InputError
from kubehipaa.model import K8sObject
from kubehipaa.sources.files import LOST, InputProblem

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class Evaluated:
    """One Pod or workload and its verdict."""

    obj: K8sObject
    verdict: pss.Verdict


@dataclass(slots=True)
class Evaluation:
    """`pss evaluate`: every Pod and workload among the inputs at one level and version."""

    level: pss.Level
    version: pss.Version
    results: list[Evaluated]
    problems: list[InputProblem] = field(default_factory=list)

    @property
    def denied(self) -> int:
        return sum(1 for r in self.results if not r.verdict.allowed)


@dataclass(slots=True)
class DryRun:
    """`pss dry-run`: which workloads of `namespace` the proposed enforce level would reject, next to what the
    namespace enforces now (`enforced_now[i]` is `results[i]`'s verdict under `current.enforce`)."""

    namespace: str
    proposed: pss.LevelVersion
    current: pss.NamespacePolicy
    results: list[Evaluated]
    enforced_now: list[pss.Verdict]
    label_warnings: list[str]
    """What `kubectl label --dry-run=server` would warn, without the `Warning: ` prefix."""
    problems: list[InputProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> list[Evaluated]:
        return [r for r in self.results if not r.verdict.allowed]


@dataclass(frozen=True, slots=True)
class NamespaceRow:
    """One namespace's effective policy and how many of its workloads its enforce level denies."""

    namespace: str
    policy: pss.NamespacePolicy
    workloads: int
    denied: int


@dataclass(slots=True)
class NamespacesResult:
    """`pss namespaces`: the effective PodSecurity policy of every namespace among the inputs."""

    rows: list[NamespaceRow]
    problems: list[InputProblem] = field(default_factory=list)


def template(obj: K8sObject) -> pss.PodTemplate | None:
    """The pod template of a Pod or workload (None for other kinds); a malformed one is an InputError."""
    try:
        return pss.extract(obj.doc)
    except pss.PodSpecError as exc:
        raise InputError(f"{obj.display}: {exc}", obj.file, obj.line) from None


def evaluate_objects(objects: Sequence[K8sObject], level: pss.Level, version: pss.Version,
                     problems: list[InputProblem] | None = None) -> list[Evaluated]:
    """Verdicts for every Pod and pod-template workload among `objects`.

    A malformed pod spec is an InputError, or, given `problems`, is added there as lost input and skipped.
    """
    out = []
    for obj in objects:
        try:
            tpl = template(obj)
            if tpl is None:
                continue
            try:
                verdict = pss.evaluate(tpl.meta, tpl.spec, level, version)
            except pss.PodSpecError as exc:
                raise InputError(f"{obj.display}: {tpl.path}: {exc}", obj.file, obj.line) from None
        except InputError as exc:
            if problems is None:
                raise
            problems.append(InputProblem(obj.file, obj.line, f"{exc.message}; not evaluated", LOST))
            continue
        out.append(Evaluated(obj, verdict))
    return out


def evaluate(objects: Sequence[K8sObject], level: pss.Level, version: pss.Version) -> Evaluation:
    """`pss evaluate`: every Pod and workload among `objects` at `level`:`version`."""
    problems: list[InputProblem] = []
    results = evaluate_objects(objects, level, version, problems)
    return Evaluation(level, version, results, problems)


def namespace_policy(objects: Sequence[K8sObject], namespace: str) -> pss.NamespacePolicy:
    """Policy from the namespace's labels; with several declarations the last one applied wins."""
    labels: dict[str, str] = {}
    for obj in objects:
        if obj.kind == "Namespace" and obj.name == namespace:
            labels = {str(k): str(v) for k, v in obj.labels.items()}
    return pss.policy_from_labels(labels)


def in_namespace(objects: Sequence[K8sObject], namespace: str) -> list[K8sObject]:
    """The objects `kubectl apply` would create in `namespace` (no namespace: the default one)."""
    return [o for o in objects if (o.namespace or DEFAULT_NAMESPACE) == namespace]


def pod_name(obj: K8sObject) -> str:
    """How the API server's label warning names a pod: manifests have no pod names yet, so the workload's."""
    return obj.name if obj.kind == "Pod" else f"{obj.kind.lower()}/{obj.name}"


def _meta_spec(obj: K8sObject) -> tuple[dict[str, Any], dict[str, Any]]:
    tpl = template(obj)
    assert tpl is not None  # only called for objects that evaluated
    return tpl.meta, tpl.spec


def dry_run(objects: Sequence[K8sObject], namespace: str, level: pss.Level, version: pss.Version) -> DryRun:
    """`pss dry-run`: label `namespace` with enforce `level`:`version`; what would be rejected, and what is now.

    The current policy is read from the namespace's manifest among `objects` (otherwise privileged:latest)."""
    problems: list[InputProblem] = []
    results = evaluate_objects(in_namespace(objects, namespace), level, version, problems)
    current = namespace_policy(objects, namespace)
    warnings = [f"namespace {namespace}: {err}" for err in current.errors]
    now = [pss.evaluate_lv(*_meta_spec(r.obj), current.enforce) for r in results]
    if not results:
        warnings.append(f"no Pod or workload in namespace {namespace!r} among the inputs")
    proposed = pss.LevelVersion(level, version)
    named = [(pod_name(r.obj), r.verdict) for r in results]
    label_warnings = list(pss.label_change_warnings(namespace, proposed, named))
    return DryRun(namespace, proposed, current, results, now, label_warnings, problems, warnings)


def namespaces(objects: Sequence[K8sObject]) -> NamespacesResult:
    """`pss namespaces`: each namespace's effective policy (its labels, upstream's defaults and fallbacks) and
    how many of its workloads that policy's enforce level denies."""
    names = {o.name for o in objects if o.kind == "Namespace"}
    names |= {(o.namespace or DEFAULT_NAMESPACE) for o in objects if o.kind in pss.POD_KINDS}
    problems: list[InputProblem] = []
    rows = []
    for name in sorted(names):
        policy = namespace_policy(objects, name)
        results = evaluate_objects(in_namespace(objects, name), policy.enforce.level, policy.enforce.version,
                                   problems)
        rows.append(NamespaceRow(name, policy, len(results), sum(1 for r in results if not r.verdict.allowed)))
    return NamespacesResult(rows, problems)
