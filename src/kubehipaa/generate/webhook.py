"""`generate webhook`: the manifests that run `kubehipaa serve admission` in a cluster, as data.

A ValidatingWebhookConfiguration that sends the API server's admission requests for the kinds our checks
judge to the webhook, and the server itself: Namespace (Pod Security `restricted`), ServiceAccount without a
token, Deployment (2 replicas on different nodes, `restricted` securityContext, HTTPS probes), Service,
PodDisruptionBudget and NetworkPolicies. Each object comes with the comment lines that say why it is so.

Design choices a reviewer should know (each also in the object's comments):
- failurePolicy Fail by default: when the webhook cannot answer, a request it would have judged is refused,
  so a pod that violates the policy can never slip into a PHI namespace during an outage (fail closed).
  Ignore keeps the cluster writable instead and leaves the gap to the next scan.
- The webhook's own namespace and kube-system are never sent: otherwise a webhook that is down (Fail) could
  not be repaired, and system pods could not start.
- The server needs no Kubernetes API access: it judges the object in the request. Hence no token is mounted
  and egress is denied entirely.
- The image must be pinned by digest. Without --image a placeholder in the reserved `.invalid` domain
  (RFC 2606: it can never resolve, so nothing can be pulled from it) is written, announced in the file's
  header and on stderr: the manifests are then a reviewable template, not something to apply.

- PHI namespaces by label: an AdmissionReview carries no namespace labels, so the configuration has one
  webhook whose namespaceSelector is the config's `phi.selector` (path /validate/phi: the server judges the
  namespace as PHI) and others for the remaining namespaces (/validate: PHI only when named in the config).
- The server runs with the user's `.kubehipaa.yaml`: a ConfigMap (verbatim; refused if a line would be
  redacted), mounted read-only, and a checksum annotation on the pod template so a config change rolls it.

Pure: `webhook_manifests` returns `(comments, object)` pairs, `reports.manifests.commented_manifests` renders
them; the CLI reads the CA file and passes its bytes.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.engines.pss import MAX_MINOR
from kubehipaa.errors import InputError
from kubehipaa.generate.restricted import container_security_context, pod_security_context
from kubehipaa.redaction import redact_text

NAME = "kubehipaa-admission"
WEBHOOK_NAME = "validate.kubehipaa.io"
PHI_WEBHOOK_NAME = "validate-phi.kubehipaa.io"
TLS_SECRET = "kubehipaa-admission-tls"
PATH = "/validate"
PHI_PATH = "/validate/phi"
"""The server judges a request on this path as from a PHI namespace (server/admission.py)."""
DEFAULT_PHI_SELECTOR: Mapping[str, str] = {"kubehipaa.io/phi": "true"}
"""config.DEFAULT_PHI_LABEL (the generator does not import the config model: it gets the selector as data)."""
CONFIG_MAP = "kubehipaa-admission-config"
CONFIG_KEY = "kubehipaa.yaml"
CONFIG_DIR = "/etc/kubehipaa"
CONFIG_CHECKSUM = "kubehipaa.io/config-sha256"
"""Pod template annotation: a changed config changes the template, so the Deployment rolls its pods (the server
reads its config once, at start)."""
MAX_CONFIG_BYTES = 128 * 1024
"""The config goes into a ConfigMap; `kubectl apply` also copies it into an annotation (256 KiB in all). A config
is a page of YAML."""
PORT = 8443
MIN_MINOR = 25
"""Oldest Kubernetes `--k8s-version` accepts: Pod Security admission (the namespace's labels) is GA since v1.25."""
MATCH_CONDITIONS_MINOR = 28
"""`matchConditions`: alpha (off by default, dropped by the API server) in v1.27, beta and on by default from
v1.28, GA in v1.30. For an older --k8s-version they are left out (and the schema of v1.26 has no such field)."""
DEFAULT_TIMEOUT = 5
DEFAULT_FAILURE_POLICY = "Fail"
FAILURE_POLICIES = ("Fail", "Ignore")
PLACEHOLDER_IMAGE = "kubehipaa.invalid/replace-with-your-registry/kubehipaa:0.1.0@sha256:" + "0" * 64
"""Written when no --image is given: pinned (so the template is what a real one looks like), but in the
reserved `.invalid` domain, so the reference can never be pulled; the header and stderr say to replace it."""
LABELS = {"app.kubernetes.io/name": "kubehipaa", "app.kubernetes.io/component": "admission-webhook"}
SELECTOR = dict(LABELS)
ADMISSION_API = "admissionregistration.k8s.io/v1"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
RESERVED = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})

RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    # (apiGroup, resources, operations, scope)
    ("", ("pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers", "services"),
     ("CREATE", "UPDATE"), "Namespaced"),
    ("", ("namespaces",), ("CREATE", "UPDATE"), "Cluster"),
    ("apps", ("deployments", "replicasets", "statefulsets", "daemonsets"), ("CREATE", "UPDATE"), "Namespaced"),
    ("batch", ("jobs", "cronjobs"), ("CREATE", "UPDATE"), "Namespaced"),
    ("networking.k8s.io", ("ingresses",), ("CREATE", "UPDATE"), "Namespaced"),
    ("networking.k8s.io", ("networkpolicies",), ("CREATE", "UPDATE", "DELETE"), "Namespaced"),
    ("rbac.authorization.k8s.io", ("roles", "rolebindings"), ("CREATE", "UPDATE"), "Namespaced"),
    ("rbac.authorization.k8s.io", ("clusterroles", "clusterrolebindings"), ("CREATE", "UPDATE"), "Cluster"),
)
"""What the API server sends: the kinds the checks judge (Pod Security's nine pod-carrying kinds as upstream's
pod-security admission judges them, Services, Ingresses, NetworkPolicies, RBAC, Namespaces). Sub-resources
are not matched by a plain resource name, so status and scale updates never reach the webhook; the one
sub-resource listed, pods/ephemeralcontainers, is how `kubectl debug` adds a container to a running pod, which
Pod Security judges like any other. Secrets are not sent: their values would travel to the webhook.

DELETE only for NetworkPolicies: deleting the default deny or the quarantine policy of a PHI namespace opens
flows (KH-NET-001/005). Deleting anything else removes configuration, which never weakens what the checks
judge, and a webhook that refuses deletions would stand in the way of clean-up and incident response."""

CONTROLLER_USERS = (
    "system:kube-controller-manager",
    *(f"system:serviceaccount:kube-system:{sa}" for sa in (
        "replicaset-controller", "replication-controller", "job-controller", "daemon-set-controller",
        "statefulset-controller", "deployment-controller", "cronjob-controller",
        "clusterrole-aggregation-controller", "namespace-controller", "generic-garbage-collector")),
)
"""The built-in controllers that only act on what someone else wrote and was judged then: the ones that stamp
objects out of a template (a Deployment's ReplicaSets and pods, a CronJob's Jobs and pods), the one that copies
the rules of labelled ClusterRoles into aggregated ones, and the two that delete a deleted namespace's content
or an owner's dependents. Judging their requests again only multiplies the load, and a denial there shows up as
a ReplicaSet that silently cannot make pods, or a namespace stuck Terminating on a NetworkPolicy DELETE."""


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """What `generate webhook` was asked for; `validate()` refuses what would not work or not be safe."""

    namespace: str
    ca_bundle: bytes
    image: str | None = None
    failure_policy: str = DEFAULT_FAILURE_POLICY
    timeout_seconds: int = DEFAULT_TIMEOUT
    create_namespace: bool = True
    k8s_minor: int = MAX_MINOR
    """The cluster's Kubernetes minor: pins the namespace's Pod Security version, decides matchConditions."""
    apiserver_cidrs: Sequence[str] = ()
    """Where the API server's calls come from, when known: the webhook's ingress is then limited to them."""
    phi_selector: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PHI_SELECTOR))
    """The config's `phi.selector`: the PHI webhook's namespaceSelector ({}: no namespace is PHI by label)."""
    cluster_scoped: str = "phi"
    """The config's `admission.clusterScoped`: which webhook ClusterRoles and ClusterRoleBindings go to."""
    config_text: str | None = None
    """The `.kubehipaa.yaml` the server runs with, verbatim (None: no config, the server runs with defaults)."""
    config_source: str = ""
    """Where config_text came from (for the header and error messages)."""

    @property
    def image_ref(self) -> str:
        return self.image or PLACEHOLDER_IMAGE


def _check_usable(cert: Any, source: str, now: datetime.datetime | None) -> None:
    """Refuse a certificate the API server could never use to verify the webhook: expired, or a leaf issued by
    someone else (the API server needs the CA that signed the serving certificate; a self-signed serving
    certificate is its own CA and is accepted). With failurePolicy Fail, an unusable caBundle refuses every
    matched request in the cluster, so this is caught here rather than after `kubectl apply`."""
    from cryptography import x509

    subject = cert.subject.rfc4514_string() or "(no subject)"
    moment = now or datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc < moment:
        raise InputError(f"{source}: the certificate {subject} expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    try:
        is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca and cert.issuer != cert.subject:
        raise InputError(f"{source}: the certificate {subject} is not a CA but was issued by "
                         f"{cert.issuer.rfc4514_string()}: give that CA's certificate")


def ca_bundle_b64(pem: bytes, source: str = "--ca-bundle", now: datetime.datetime | None = None) -> str:
    """The caBundle field: base64 of the PEM certificate(s), after checking they are certificates.

    Refuses anything but CERTIFICATE blocks (a private key must never end up in a manifest) and blocks that
    do not parse; the message names the source, never its content."""
    from cryptography import x509

    kinds = _PEM_BLOCK.findall(pem)
    if not kinds:
        raise InputError(f"{source}: not a PEM certificate (no '-----BEGIN CERTIFICATE-----' block); give the CA "
                         "certificate that signed the webhook's serving certificate")
    other = sorted({k.decode() for k in kinds if k != b"CERTIFICATE"})
    if other:
        raise InputError(f"{source}: holds a {other[0]} block, not only certificates; give the CA certificate "
                         "alone (a private key must never be written into a manifest)")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise InputError(f"{source}: a CERTIFICATE block does not parse as an X.509 certificate") from None
    for cert in certs:
        _check_usable(cert, source, now)
    from cryptography.hazmat.primitives.serialization import Encoding

    # re-encoded from the parsed certificates: no stray text before, between or after the blocks
    clean = b"".join(c.public_bytes(Encoding.PEM) for c in certs)
    return base64.b64encode(clean).decode("ascii")


def check_image(image: str) -> str:
    """An image reference pinned by digest (`registry/kubehipaa:1.2.3@sha256:<64 hex>`)."""
    if not image or any(c.isspace() for c in image) or not image.isprintable():
        raise InputError("--image needs an image reference such as registry.example/kubehipaa:0.1.0@sha256:<digest>")
    if not _DIGEST.search(image):
        raise InputError(f"--image {image!r} is not pinned by digest: append @sha256:<digest> (get it with "
                         "`crane digest IMAGE` or `docker buildx imagetools inspect IMAGE`); a tag can be re-pushed")
    return image


def check_cidr(text: str) -> str:
    """A canonical network (`10.0.0.0/24`, `fd00::/64`); 'anywhere' (/0) is what leaving it out means."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InputError(f"--apiserver-cidr {text!r} is not a valid CIDR (e.g. 10.0.0.0/24)") from None
    if "/" not in text or str(net) != text:
        raise InputError(f"--apiserver-cidr {text!r}: give the network in canonical form, e.g. {net}")
    if net.prefixlen == 0:
        raise InputError(f"--apiserver-cidr {text!r} is every address: leave the option out instead")
    return text


_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def check_selector(selector: Mapping[str, str], source: str) -> None:
    """The PHI selector becomes a label selector the API server validates: a key or value it would refuse
    must be caught here, not at `kubectl apply` (where the whole configuration, Deployment included, fails)."""
    for key, value in selector.items():
        prefix, slash, name = key.rpartition("/")
        if (not _LABEL_NAME.fullmatch(name) or len(name) > 63
                or (slash and (not _DNS_SUBDOMAIN.fullmatch(prefix) or len(prefix) > 253))):
            raise InputError(f"{source}: phi.selector: {key!r} is not a valid label key")
        if not isinstance(value, str) or len(value) > 63 or (value and not _LABEL_NAME.fullmatch(value)):
            raise InputError(f"{source}: phi.selector: the value of {key!r} is not a valid label value "
                             "(at most 63 letters, digits, '-', '_' or '.')")


def check_config_text(text: str, source: str) -> None:
    """The config is written in plain text into a ConfigMap (readable by whoever may read ConfigMaps in the
    webhook's namespace). kubehipaa's config needs no secret; a line that redaction would mask (a credential,
    a patient identifier) is refused, naming the line and never its content."""
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise InputError(f"{source}: config larger than {MAX_CONFIG_BYTES // 1024} KiB: too large for the "
                         "ConfigMap `kubectl apply` can write")
    for number, line in enumerate(text.splitlines(), 1):
        if redact_text(line) != line:
            raise InputError(f"{source}:{number}: holds a value kubehipaa's redaction masks (a credential or "
                             "patient data); it would be written into a ConfigMap in plain text: remove it")


def validate(opts: WebhookOptions) -> None:
    """One InputError line for the first problem."""
    if not _DNS_LABEL.fullmatch(opts.namespace) or len(opts.namespace) > 63:
        raise InputError(f"--namespace {opts.namespace!r} is not a valid namespace name (at most 63 lowercase "
                         "letters, digits and '-', starting and ending with a letter or digit)")
    if opts.namespace in RESERVED:
        raise InputError(f"--namespace {opts.namespace!r} is one of Kubernetes' own namespaces: run the webhook in "
                         "a namespace of its own (e.g. kubehipaa), which the webhook then exempts")
    if opts.image is not None:
        check_image(opts.image)
    if opts.failure_policy not in FAILURE_POLICIES:
        raise InputError(f"--failure-policy {opts.failure_policy!r}: give Fail or Ignore")
    for cidr in opts.apiserver_cidrs:
        check_cidr(cidr)
    if not MIN_MINOR <= opts.k8s_minor <= MAX_MINOR:
        raise InputError(f"Kubernetes 1.{opts.k8s_minor} is not supported (1.{MIN_MINOR} to 1.{MAX_MINOR})")
    if not 1 <= opts.timeout_seconds <= 30:
        raise InputError(f"--timeout-seconds {opts.timeout_seconds}: the API server accepts 1 to 30 seconds")
    source = opts.config_source or "config"
    check_selector(opts.phi_selector, source)
    if opts.cluster_scoped not in ("phi", "other"):
        raise InputError(f"{source}: admission.clusterScoped {opts.cluster_scoped!r}: give phi or other")
    if opts.config_text is not None:
        check_config_text(opts.config_text, source)


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(LABELS)
    return meta


def namespace_object(namespace: str, k8s_minor: int = MAX_MINOR) -> dict[str, Any]:
    """The webhook's namespace: Pod Security `restricted` enforced, audited and warned, pinned."""
    meta = _meta(namespace)
    for mode in ("enforce", "audit", "warn"):
        meta["labels"][f"pod-security.kubernetes.io/{mode}"] = "restricted"
        meta["labels"][f"pod-security.kubernetes.io/{mode}-version"] = f"v1.{k8s_minor}"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def match_conditions() -> list[dict[str, str]]:
    """CEL conditions the API server evaluates before calling the webhook (GA in 1.30): every request they
    exclude costs no network round trip and cannot be refused by an unavailable webhook."""
    users = ", ".join(f"'{u}'" for u in CONTROLLER_USERS)
    return [
        {"name": "not-a-controller-copy",
         "expression": f"!(request.userInfo.username in [{users}])"},
        {"name": "not-a-mirror-pod",
         "expression": "!(request.resource.resource == 'pods' && request.userInfo.username.startsWith('system:node:'))"},
        {"name": "not-finalizing",
         "expression": "!(request.operation == 'UPDATE' && has(object.metadata.deletionTimestamp))"},
    ]


def _excluded(opts: WebhookOptions) -> dict[str, Any]:
    return {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": sorted({"kube-system", opts.namespace})}


def namespace_selectors(opts: WebhookOptions) -> list[tuple[str, str, dict[str, Any]]]:
    """(webhook name, path, namespaceSelector) for each webhook: one for the namespaces carrying every label
    of the PHI selector (-> /validate/phi), and a partition of all the others (-> /validate).

    "Not all of k1=v1 ... kn=vn" is not one label selector (selectors only AND), so the others are split into
    n disjoint selectors: k1 != v1; k1 = v1 and k2 != v2; ...; each namespace matches exactly one webhook and
    no request is judged twice. `NotIn` also matches a namespace without the label. kube-system and the
    webhook's own namespace are excluded from all of them."""
    excluded = _excluded(opts)
    items = list(opts.phi_selector.items())
    if not items:
        return [(WEBHOOK_NAME, PATH, {"matchExpressions": [excluded]})]
    out = [(PHI_WEBHOOK_NAME, PHI_PATH, {"matchLabels": dict(items), "matchExpressions": [excluded]})]
    for i, (key, value) in enumerate(items):
        exprs = [{"key": k, "operator": "In", "values": [v]} for k, v in items[:i]]
        exprs.append({"key": key, "operator": "NotIn", "values": [value]})
        name = WEBHOOK_NAME if i == 0 else f"validate-{i + 1}.kubehipaa.io"
        out.append((name, PATH, {"matchExpressions": [*exprs, excluded]}))
    return out


def _cluster_rbac_webhook(opts: WebhookOptions, hooks: Sequence[tuple[str, str, dict[str, Any]]]) -> str:
    """The one webhook ClusterRoles and ClusterRoleBindings go to: a namespaceSelector never skips a
    cluster-scoped object other than a Namespace, so listing them in every webhook would judge them twice.
    `admission.clusterScoped: phi` (default) -> the PHI webhook; `other` -> the first other one."""
    if opts.cluster_scoped == "phi" and hooks[0][1] == PHI_PATH:
        return hooks[0][0]
    return next(name for name, path, _ in hooks if path == PATH)


def webhook_configuration(opts: WebhookOptions) -> dict[str, Any]:
    hooks = namespace_selectors(opts)
    rbac_hook = _cluster_rbac_webhook(opts, hooks)
    ca = ca_bundle_b64(opts.ca_bundle)
    webhooks = []
    for name, path, selector in hooks:
        rules = [{"apiGroups": [group], "apiVersions": ["v1"], "operations": list(ops), "resources": list(res),
                  "scope": scope} for group, res, ops, scope in RULES
                 if name == rbac_hook or not (scope == "Cluster" and group == "rbac.authorization.k8s.io")]
        webhook = {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": {
                "service": {"namespace": opts.namespace, "name": NAME, "path": path, "port": 443},
                "caBundle": ca,
            },
            "rules": rules,
            "failurePolicy": opts.failure_policy,
            "matchPolicy": "Equivalent",
            "namespaceSelector": selector,
            "sideEffects": "None",
            "timeoutSeconds": opts.timeout_seconds,
        }
        if opts.k8s_minor >= MATCH_CONDITIONS_MINOR:
            webhook["matchConditions"] = match_conditions()
        webhooks.append(webhook)
    return {"apiVersion": ADMISSION_API, "kind": "ValidatingWebhookConfiguration", "metadata": _meta(NAME),
            "webhooks": webhooks}


def config_checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_map(opts: WebhookOptions) -> dict[str, Any]:
    """The user's `.kubehipaa.yaml`, verbatim (comments and line numbers kept, so the server's errors point
    at the file the user edits)."""
    assert opts.config_text is not None
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(CONFIG_MAP, opts.namespace),
            "data": {CONFIG_KEY: opts.config_text}}


def service_account(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, namespace),
            "automountServiceAccountToken": False}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "https", "scheme": "HTTPS"}, "periodSeconds": period,
            "timeoutSeconds": 2, "failureThreshold": failures}


def deployment(opts: WebhookOptions) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "webhook",
        "image": opts.image_ref,
        "imagePullPolicy": "IfNotPresent",
        "command": ["kubehipaa"],
        "args": ["serve", "admission", "--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key",
                 "--port", str(PORT)],
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": _probe("/readyz", 5, 2),
        "livenessProbe": _probe("/healthz", 10, 3),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    template_meta: dict[str, Any] = {"labels": dict(LABELS)}
    volumes: list[dict[str, Any]] = [
        {"name": "tls", "secret": {"secretName": TLS_SECRET, "defaultMode": 0o440}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
    ]
    if opts.config_text is not None:
        container["args"] += ["--config", f"{CONFIG_DIR}/{CONFIG_KEY}"]
        container["volumeMounts"].append({"name": "config", "mountPath": CONFIG_DIR, "readOnly": True})
        volumes.append({"name": "config", "configMap": {"name": CONFIG_MAP, "defaultMode": 0o440}})
        template_meta["annotations"] = {CONFIG_CHECKSUM: config_checksum(opts.config_text)}
    pod_spec = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": dict(SELECTOR)}, "topologyKey": "kubernetes.io/hostname"}]}},
        "containers": [container],
        "volumes": volumes,
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(NAME, opts.namespace), "spec": {
        "replicas": 2,
        "selector": {"matchLabels": dict(SELECTOR)},
        # one old replica goes before its successor starts: with required anti-affinity a surge pod would find
        # no free node on a two-node cluster and the rollout would never finish
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "template": {"metadata": template_meta, "spec": pod_spec},
    }}


def service(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(NAME, namespace), "spec": {
        "type": "ClusterIP", "selector": dict(SELECTOR),
        "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]}}


def pod_disruption_budget(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(NAME, namespace),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": dict(SELECTOR)}}}


def default_deny(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": _meta("default-deny-all", namespace),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}


def network_policy(namespace: str, apiserver_cidrs: Sequence[str] = ()) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if apiserver_cidrs:
        rule["from"] = [{"ipBlock": {"cidr": c}} for c in dict.fromkeys(apiserver_cidrs)]
    rule["ports"] = [{"protocol": "TCP", "port": PORT}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(NAME, namespace),
            "spec": {"podSelector": {"matchLabels": dict(SELECTOR)}, "policyTypes": ["Ingress", "Egress"],
                     "ingress": [rule]}}


Item = tuple[list[str], dict[str, Any]]


def webhook_manifests(opts: WebhookOptions) -> list[Item]:
    """The objects in apply order (the webhook configuration last, once its server can be scheduled), each
    with its comment lines."""
    validate(opts)
    ns = opts.namespace
    fail = opts.failure_policy == "Fail"
    items: list[Item] = []
    if opts.create_namespace:
        items.append(([
            f"Namespace {ns}: the webhook's own, Pod Security 'restricted' enforced, audited and warned (pinned).",
            "The webhook configuration exempts it, so a broken webhook can always be redeployed here.",
        ], namespace_object(ns, opts.k8s_minor)))
    items.append(([
        f"ServiceAccount {NAME}: the server judges the object in each request and never calls the Kubernetes",
        "API, so no token is mounted. HIPAA 164.312(a)(1) Access control: no credential to steal.",
    ], service_account(ns)))
    if opts.config_text is not None:
        items.append(([
            f"ConfigMap {CONFIG_MAP}: the .kubehipaa.yaml the webhook enforces ({opts.config_source or 'config'}),",
            f"verbatim, mounted read-only at {CONFIG_DIR} and passed as --config. It holds no secret (a line",
            "kubehipaa's redaction would mask is refused). Edit the file and regenerate: the pod template's",
            f"{CONFIG_CHECKSUM} annotation changes, so the Deployment replaces its pods (the server reads the",
            "config once, at start).",
        ], config_map(opts)))
    items.append(([
        f"Deployment {NAME}: `kubehipaa serve admission` over TLS on {PORT} (POST {PATH} and {PHI_PATH},",
        "/healthz, /readyz)"
        + (f", with the config above (--config {CONFIG_DIR}/{CONFIG_KEY})." if opts.config_text is not None
           else ", with the default policy (no .kubehipaa.yaml was given or found)."),
        "2 replicas on different nodes (required anti-affinity: a single-node cluster runs one, the other stays",
        "Pending); a rollout replaces one replica at a time, so one always serves; non-root, read-only root filesystem, no",
        "capabilities, RuntimeDefault seccomp, no API token, a memory-backed /tmp.",
        f"TLS: the Secret {TLS_SECRET} (tls.crt, tls.key) for {NAME}.{ns}.svc, signed by the --ca-bundle CA:",
        f"  kubectl -n {ns} create secret tls {TLS_SECRET} --cert tls.crt --key tls.key",
        ("Image: PLACEHOLDER (no --image given): replace it with your kubehipaa image pinned by digest."
         if opts.image is None else "Image pinned by digest: the code that judges admissions is the code reviewed."),
        "HIPAA 164.308(a)(1)(ii)(B) Risk management; 164.312(c)(1) Integrity.",
    ], deployment(opts)))
    items.append(([
        f"Service {NAME}: ClusterIP 443 -> {PORT}; the API server calls the webhook through it.",
    ], service(ns)))
    items.append(([
        f"PodDisruptionBudget {NAME}: node drains keep one replica serving"
        + (", so admission never fails closed for maintenance." if fail else "."),
    ], pod_disruption_budget(ns)))
    if opts.create_namespace:
        items.append(([
            f"Default deny for namespace {ns}: every pod isolated; the policy below is the only allowed flow.",
            "HIPAA 164.312(e)(1) Transmission security.",
        ], default_deny(ns)))
    if opts.apiserver_cidrs:
        source = [f"Callers limited to the API server's addresses (--apiserver-cidr): {', '.join(opts.apiserver_cidrs)}.",
                  "The API server calls webhooks from the control plane's host network, not from a pod, so an",
                  "ipBlock is the only way to name it; with a CNI that masquerades, check the source it sees."]
    else:
        source = ["The source is not restricted: the API server calls webhooks from the control plane's host network",
                  "(or a provider's tunnel on managed clusters), which is not a pod, so no pod or namespace selector",
                  "matches it and its addresses differ per cluster; name them with --apiserver-cidr if you know them.",
                  "Other callers only get verdicts: the server has no side effects and holds no data."]
    items.append(([
        f"NetworkPolicy {NAME}: ingress to TCP {PORT} only; no egress at all (the server calls nothing, not even DNS).",
        *source,
        "HIPAA 164.312(e)(1) Transmission security.",
    ], network_policy(ns, opts.apiserver_cidrs)))
    items.append((_vwc_comments(opts), webhook_configuration(opts)))
    return items


def _vwc_comments(opts: WebhookOptions) -> list[str]:
    policy = (
        ["failurePolicy Fail (default): when the webhook cannot answer in time, the request is refused. A PHI",
         "namespace never admits an unjudged pod during an outage; the price is that creates and updates of the",
         "matched kinds stop while no replica answers (hence 2 replicas, anti-affinity and the PDB)."]
        if opts.failure_policy == "Fail" else
        ["failurePolicy Ignore (--failure-policy Ignore): when the webhook cannot answer, the request is admitted",
         "unjudged. The cluster stays writable in an outage, but a violating object may slip in then: only the",
         "next `kubehipaa scan` finds it. Prefer Fail for PHI namespaces."])
    return [
        f"ValidatingWebhookConfiguration {NAME}: the API server sends each matched request to one of its webhooks.",
        *policy,
        f"timeoutSeconds {opts.timeout_seconds}: the longest any request waits for a verdict.",
        *_selector_comments(opts),
        "rules: CREATE and UPDATE of the kinds the checks judge; status/scale updates are sub-resources and not sent;",
        "pods/ephemeralcontainers is (kubectl debug adds containers through it). DELETE only for NetworkPolicies",
        "(deleting a default deny opens flows); deleting anything else never weakens what the checks judge, and",
        "refusing it would stand in the way of clean-up and incident response. Secrets are never sent.",
        *(["matchConditions (CEL, GA in 1.30) skip, without a call: objects the built-in controllers stamp out of",
           "a template already judged on its Deployment/CronJob/..., aggregated ClusterRoles (their sources are judged),",
           "the namespace and garbage collectors' deletions (a namespace must never hang in Terminating); mirror pods of static pods (kubelet, system:node:*;",
           "refusing them hides the pod, it does not stop it); updates of objects being deleted (finalizer removal)."]
          if opts.k8s_minor >= MATCH_CONDITIONS_MINOR else
          [f"No matchConditions: Kubernetes 1.{opts.k8s_minor} (--k8s-version) does not apply them (beta from "
           f"1.{MATCH_CONDITIONS_MINOR}); every matched",
           "request is sent, including the pods controllers create from already-judged templates."]),
        "sideEffects None: the webhook only judges, so dry-run requests are sent too.",
        "HIPAA 164.308(a)(1)(ii)(B) Risk management; 164.312(a)(1) Access control; 164.312(e)(1) Transmission security.",
    ]


def _selector_comments(opts: WebhookOptions) -> list[str]:
    """Why several webhooks: the request does not carry its namespace's labels, the namespaceSelector sees them."""
    excluded = f"All exclude kube-system and {opts.namespace} (the webhook's own namespace, so it can always be repaired)."
    if not opts.phi_selector:
        return ["namespaceSelector: every namespace; phi.selector is empty, so PHI namespaces are only those the",
                f"config names (phi.namespaces), judged by the server on {PATH}. " + excluded,
                "Cluster-scoped kinds (ClusterRoles, bindings) are always sent; Namespaces by their own labels."]
    labels = ", ".join(f"{k}={v}" for k, v in opts.phi_selector.items())
    return [
        "Webhooks by namespace: an AdmissionReview does not carry the namespace's labels, the API server's",
        f"namespaceSelector does. {PHI_WEBHOOK_NAME} gets the namespaces labelled {labels} (the config's",
        f"phi.selector) on {PHI_PATH}, judged with the PHI table; the others (one webhook per selector label,",
        f"disjoint: no request is judged twice) go to {PATH}, where namespaces named in phi.namespaces are PHI too.",
        excluded,
        "Namespaces are matched by their own labels; ClusterRoles and ClusterRoleBindings (no namespace, so a",
        f"namespaceSelector never skips them) are sent once, to {_cluster_rbac_webhook(opts, namespace_selectors(opts))}",
        f"(admission.clusterScoped: {opts.cluster_scoped}).",
    ]


def header(opts: WebhookOptions) -> list[str]:
    """The file's opening comment: what it is, what to create first, how to check it."""
    lines = [
        f"kubehipaa generate webhook --namespace {opts.namespace}: the kubehipaa admission webhook.",
        f"Before applying: create the TLS Secret {TLS_SECRET} in {opts.namespace} (tls.crt for "
        f"{NAME}.{opts.namespace}.svc, signed by the CA given as --ca-bundle).",
        f"Apply: kubectl apply -f FILE    Verify: kubehipaa scan FILE    For Kubernetes 1.{opts.k8s_minor} "
        "(--k8s-version); needs a CNI that enforces NetworkPolicy.",
    ]
    if opts.config_text is not None:
        lines.append(f"Policy: {opts.config_source or 'the config'} (in the ConfigMap {CONFIG_MAP}, sha256 "
                     f"{config_checksum(opts.config_text)[:12]}...).")
    else:
        labels = ", ".join(f"{k}={v}" for k, v in opts.phi_selector.items())
        lines.append("Policy: NO .kubehipaa.yaml (no --config given, none in the current directory): the webhook runs "
                     f"with the defaults (PHI namespaces: those labelled {labels}; every rule warns elsewhere).")
    if opts.image is None:
        lines.append(f"PLACEHOLDER IMAGE {PLACEHOLDER_IMAGE}: it can never be pulled; give --image "
                     "REGISTRY/kubehipaa:TAG@sha256:DIGEST, or the webhook never starts and, with failurePolicy "
                     "Fail, creates and updates of the matched kinds are refused cluster-wide.")
    return lines
