"""`kubehipaa admission test`: load the policies and the manifests, evaluate every policy on every object.

Why a pipeline: it reads files (sources) and runs the pure CEL engine (engines/cel); the CLI only renders.
Any skipped document, in the policy file or the manifests, stops the run (exit 2): an object silently
left out would make the policies look as if they admit everything. A policy with `paramKind` reads its
params from the object its binding's paramRef names in the policy file (`generate admission-policies` writes
the params ConfigMap there); a missing one is handled as upstream (parameterNotFoundAction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubehipaa.engines.cel import (
    CelPolicyError,
    CelUnavailable,
    Decision,
    ObjectContext,
    compile_policies,
    evaluate_object,
)
from kubehipaa.errors import InputError
from kubehipaa.sources.files import DUPLICATE, NOTE, LoadResult, load_paths

POLICY_KINDS = frozenset({"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})


@dataclass(frozen=True)
class ObjectVerdict:
    """The decisions of every policy that applies to one object (skipped policies left out)."""

    kind: str
    namespace: str | None
    name: str
    file: str
    line: int
    decisions: tuple[Decision, ...]

    @property
    def denied(self) -> bool:
        return any(d.verdict in ("deny", "error") for d in self.decisions)


@dataclass(frozen=True)
class AdmissionTestResult:
    policies: int
    objects: list[ObjectVerdict]

    @property
    def denied(self) -> int:
        return sum(1 for o in self.objects if o.denied)


def _load(paths: Sequence[str]) -> LoadResult:
    loaded = load_paths(list(paths))
    for p in loaded.problems:
        if p.level not in (DUPLICATE, NOTE):
            raise InputError(p.message, p.file, p.line)
    return loaded


def run_admission_test(policy_file: str, paths: Sequence[str], *, username: str = "kubehipaa:offline-test"
                       ) -> AdmissionTestResult:
    """Every policy/binding pair of `policy_file` on every object under `paths`."""
    # every document of the policy file: the policies, their bindings and the param objects their
    # paramRefs name (the generated params ConfigMap), which compile_policies binds as `params`
    policy_docs = [o.doc for o in _load([policy_file]).objects]
    if not any(d.get("kind") == "ValidatingAdmissionPolicyBinding" for d in policy_docs):
        raise InputError("no ValidatingAdmissionPolicyBinding in the file: nothing would be enforced",
                         policy_file)
    try:
        policies = compile_policies(policy_docs)
    except (CelPolicyError, CelUnavailable) as exc:
        raise InputError(str(exc), policy_file) from None
    loaded = _load(paths)
    objects = [o for o in loaded.objects if o.kind not in POLICY_KINDS]
    if not objects:
        raise InputError("no Kubernetes object to test under " + ", ".join(paths))
    labels = {o.name: {str(k): str(v) for k, v in ((o.doc.get("metadata") or {}).get("labels") or {}).items()}
              for o in objects if o.kind == "Namespace"}
    out: list[ObjectVerdict] = []
    for o in objects:
        ctx = ObjectContext(o.namespace, labels.get(o.namespace or "", {}), username=username)
        decisions = tuple(d for d in evaluate_object(policies, o.doc, ctx) if d.verdict != "skip")
        out.append(ObjectVerdict(o.kind, o.namespace, o.name, o.file, o.line, decisions))
    return AdmissionTestResult(len(policies), out)
