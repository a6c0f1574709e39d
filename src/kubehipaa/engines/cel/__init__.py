"""Offline evaluation of ValidatingAdmissionPolicies: the same CEL the API server runs, over manifests.

Why: a generated policy is only useful if it admits and rejects what the scan says; this engine lets
`kubehipaa admission test` and the agreement tests run the policies without a cluster. It follows the
admission plugin's semantics (matchConstraints -> binding matchResources -> matchConditions -> variables ->
validations; an evaluation error applies `failurePolicy`) using cel-python for the CEL core, plus the
Kubernetes library functions our policies use that cel-python lacks (`SUPPORTED_K8S_FUNCTIONS`).

Pure: dicts in, decisions out. cel-python is an optional dependency (the `admission` extra); importing this
module without it raises `CelUnavailable` with the install hint.
"""

from __future__ import annotations

from kubehipaa.engines.cel.evaluate import (
    SUPPORTED_K8S_FUNCTIONS,
    CelPolicyError,
    CelUnavailable,
    CompiledPolicy,
    Decision,
    ObjectContext,
    compile_policies,
    evaluate_object,
    guess_resource,
    selector_matches,
)

__all__ = [
    "SUPPORTED_K8S_FUNCTIONS",
    "CelPolicyError",
    "CelUnavailable",
    "CompiledPolicy",
    "Decision",
    "ObjectContext",
    "compile_policies",
    "evaluate_object",
    "guess_resource",
    "selector_matches",
]
