"""The balanced healthcare audit Policy (audit.k8s.io/v1): `kubehipaa generate audit-policy`.

Balanced means: every access to credentials and PHI-bearing objects is RECORDED (who, what, when, from
where: 164.312(b)), but never their BODIES (Secret and ConfigMap values, bearer tokens would otherwise be
copied into a log that many more people can read than the objects themselves); changes to who may access PHI
(RBAC, admission webhooks and policies, NetworkPolicies, namespaces' Pod Security and PHI labels) are kept in
full so they can be reconstructed; the high-volume, low-value read-only chatter of system components
(leader-election leases, kube-proxy watches, kubelet node reads, health probes) is dropped, because a log
nobody can afford to keep protects nothing.

The API server evaluates the rules IN ORDER and the FIRST rule that matches decides (k8s.io/apiserver
pkg/audit/policy/checker.go): the narrow `None` rules come first and name their users exactly, so they can
never swallow a human's or a workload's request; the Metadata rule for secrets/configmaps/tokens comes before
every rule that records bodies; the catch-all Metadata rule comes last, so nothing falls through to level
None. `omitStages: [RequestReceived]` at the policy level: that stage duplicates the ResponseComplete event.

`kubehipaa audit-policy check` and the KH-AUD-* checks rate this policy; tests hold it to no finding.
"""

from __future__ import annotations

from typing import Any

AUDIT_API = "audit.k8s.io/v1"
CORE = ""
RBAC = "rbac.authorization.k8s.io"
WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection"]
CONTROL_PLANE_USERS = ["system:kube-controller-manager", "system:kube-scheduler", "system:cloud-controller-manager"]

NOISE = ["Why not: 164.308(a)(1)(ii)(D) requires the activity records to be REVIEWED; read-only system",
         "chatter with no access to PHI would bury what matters (164.312(b) audit controls)."]
Rule = tuple[list[str], dict[str, Any]]
"""A rule's comment lines (why it is there, which HIPAA paragraph) and the rule itself."""


def _res(group: str, *resources: str) -> dict[str, Any]:
    """A GroupResources entry; no resources = every resource of the group (upstream semantics)."""
    return {"group": group, "resources": list(resources)} if resources else {"group": group}


def audit_policy_rules() -> list[Rule]:
    """The rules in evaluation order (first match wins), each with the comment that justifies it."""
    return [
        # ---- 1. high-volume, low-value system traffic: not recorded (narrow: named users, verbs, resources)
        (["Not recorded: kube-proxy watching Services and endpoints on every node (thousands of events an",
          "hour, no PHI, no change). Matches only the user system:kube-proxy and the verb watch.", *NOISE],
         {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
          "resources": [_res(CORE, "endpoints", "services", "services/status"),
                        _res("discovery.k8s.io", "endpointslices")]}),
        (["Not recorded: kubelets reading their own Node object (status heartbeats). Reads only; a node's",
          "writes are still recorded by the catch-all rule.", *NOISE],
         {"level": "None", "userGroups": ["system:nodes"], "verbs": ["get"],
          "resources": [_res(CORE, "nodes", "nodes/status")]}),
        (["Not recorded: node heartbeats, the kubelets' Leases in kube-node-lease (one renewal per node",
          "every 10 s, nothing an auditor can use).", *NOISE],
         {"level": "None", "userGroups": ["system:nodes"], "verbs": ["get", "update"],
          "namespaces": ["kube-node-lease"], "resources": [_res("coordination.k8s.io", "leases")]}),
        (["Not recorded: leader election of the control-plane components (Lease and legacy Endpoints",
          "renewals in kube-system every few seconds). Named component users only.", *NOISE],
         {"level": "None", "users": CONTROL_PLANE_USERS, "verbs": ["get", "update"], "namespaces": ["kube-system"],
          "resources": [_res("coordination.k8s.io", "leases"), _res(CORE, "endpoints")]}),
        (["Not recorded: the API server reading namespaces for its own admission and finalization.", *NOISE],
         {"level": "None", "users": ["system:apiserver"], "verbs": ["get"],
          "resources": [_res(CORE, "namespaces", "namespaces/status", "namespaces/finalize")]}),
        (["Not recorded: health and version probes (load balancers, kubelets, monitoring call them every few",
          "seconds; they carry no PHI and change nothing). Read-only URLs only: /metrics stays recorded.", *NOISE],
         {"level": "None", "verbs": ["get"], "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]}),
        # ---- 2. credentials and PHI-bearing objects: who/what/when, NEVER the body
        (["Metadata ONLY for Secrets, ConfigMaps, ServiceAccount tokens and TokenReviews: every access is",
          "recorded (164.312(b) audit controls, 164.308(a)(1)(ii)(D) information system activity review),",
          "but never at Request/RequestResponse: the bodies hold secret values, bearer tokens and, in",
          "ConfigMaps, often PHI, which must not be copied into the audit log (164.312(a)(1), 164.502(b)",
          "minimum necessary). This rule must stay BEFORE every rule that records bodies (first match wins)."],
         {"level": "Metadata",
          "resources": [_res(CORE, "secrets", "configmaps", "serviceaccounts/token"),
                        _res("authentication.k8s.io", "tokenreviews")]}),
        (["Metadata for proxied traffic into pods, services and nodes: record who tunnelled where, but not",
          "the bodies, which are the application's own requests and responses and may carry PHI",
          "(164.312(b); 164.502(b) minimum necessary)."],
         {"level": "Metadata",
          "resources": [_res(CORE, "pods/proxy", "services/proxy", "nodes/proxy")]}),
        # ---- 3. interactive access to containers: in full
        (["RequestResponse for exec, attach and port-forward: who opened a shell or a tunnel into a",
          "container, with which command (164.312(b) audit controls; 164.308(a)(5)(ii)(C) log-in",
          "monitoring). The stream itself is not part of the audit event."],
         {"level": "RequestResponse",
          "resources": [_res(CORE, "pods/exec", "pods/attach", "pods/portforward")]}),
        # ---- 4. changes to who may access PHI: in full
        (["RequestResponse for RBAC changes: every grant and revocation of access must be reconstructable",
          "(164.308(a)(4)(ii)(B)-(C) access authorization, establishment and modification; 164.312(b))."],
         {"level": "RequestResponse", "verbs": WRITE_VERBS, "resources": [_res(RBAC)]}),
        (["RequestResponse for changes to admission control (webhooks and admission policies): disabling",
          "or rewriting them switches off the safeguards that keep PHI workloads hardened",
          "(164.308(a)(1)(ii)(D), 164.312(b))."],
         {"level": "RequestResponse", "verbs": WRITE_VERBS,
          "resources": [_res("admissionregistration.k8s.io")]}),
        (["RequestResponse for NetworkPolicy and Namespace changes: network isolation of PHI workloads and",
          "the namespaces' Pod Security and PHI labels are access and transmission controls",
          "(164.312(a)(1), 164.312(e)(1), 164.312(b))."],
         {"level": "RequestResponse", "verbs": WRITE_VERBS,
          "resources": [_res("networking.k8s.io", "networkpolicies"), _res(CORE, "namespaces")]}),
        # ---- 5. everything else, including failed authentication: at least Metadata
        (["Catch-all: every other request, including failed authentication, anonymous requests and",
          "/metrics, at Metadata (164.312(b) audit controls; 164.308(a)(5)(ii)(C) log-in monitoring).",
          "Never level None here: an unmatched request must not disappear from the trail."],
         {"level": "Metadata"}),
    ]


def audit_policy() -> tuple[list[str], dict[str, Any], list[list[str]]]:
    """The document-level comment, the Policy document, and each rule's comment (in rule order)."""
    comments = [
        "Audit Policy for a HIPAA-regulated cluster (164.312(b) audit controls).",
        "Install: kube-apiserver --audit-policy-file=/etc/kubernetes/audit-policy.yaml",
        "  --audit-log-path=/var/log/kubernetes/audit/audit.log (or --audit-webhook-config-file), and ship",
        "  the log to storage kept as long as your retention policy says (documentation: six years,",
        "  164.316(b)(2)(i)).",
        "omitStages RequestReceived: that stage only duplicates the ResponseComplete event (the",
        "  ResponseStarted stage, which records failed authentication, is kept).",
        "Rules are evaluated IN ORDER; the FIRST matching rule decides the level. Keep the order.",
        "Verify after editing: kubehipaa audit-policy check audit-policy.yaml",
    ]
    rules = audit_policy_rules()
    doc = {"apiVersion": AUDIT_API, "kind": "Policy", "omitStages": ["RequestReceived"],
           "rules": [rule for _, rule in rules]}
    return comments, doc, [why for why, _ in rules]
