"""Secrets and PHI in configuration (KH-SEC-NNN): credentials and patient data where they do not belong.

ConfigMaps, literal env values and annotations are stored in etcd without the Secret encryption provider
that the encryption checks demand, are readable by roles that were never meant to see credentials
(`get configmaps`, `get pods`), and are copied into every `kubectl get -o yaml`, CI log and backup.
Credentials there defeat authentication (164.312(d)); PHI there defeats access control and encryption at
rest (164.312(a)(1), 164.312(a)(2)(iv)).

Secret manifests are the other way credentials leak: `data` is only base64, so a Secret committed with its
values puts the credential in the repository, outside the cluster's RBAC and encryption (KH-SEC-008).

Every value reported here is sensitive by definition: evidence carries only the redacted shape from
`kubehipaa.engines.phi.redact`, never the value.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

from kubehipaa.checks._pods import Container, all_containers, as_dict, workload_specs
from kubehipaa.checks.registry import Hit, check
from kubehipaa.engines.phi import (
    CONTACT_KINDS,
    STRONG_KINDS,
    PhiMatch,
    PhiScan,
    join_path,
    might_contain_phi,
    redact,
)
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity

AREA = "secrets"
CREDENTIALS = ("164.312(d)", "164.312(a)(1)", "164.312(a)(2)(iv)")
PHI_EXPOSURE = ("164.312(a)(1)", "164.312(a)(2)(iv)", "164.308(a)(4)(ii)(B)")

# Names that announce a credential, and words that say the value is only *about* one (a path, a TTL...).
_SECRET_NAME = re.compile(
    r"(?i)(passw(or)?d|passphrase|secret|token|api[_-]?key|apikey|private[_-]?key|access[_-]?key|credential"
    r"|client[_-]?secret|auth[_-]?key|signing[_-]?key|encryption[_-]?key|conn(ection)?[_-]?string)"
)
_NOT_A_SECRET = re.compile(
    r"(?i)(file|path|dir|url|uri|endpoint|host|port|ttl|expir|timeout|length|size|enabled|mode|header|issuer"
    r"|audience|type|name|algorithm|ref|policy|rotation|lifetime|duration|count|limit)$"
)
_PLACEHOLDER = re.compile(r"^(\$\(.*\)|\$\{.*\}|\{\{.*\}\}|<.*>|\*+|x+|changeme-placeholder)$", re.IGNORECASE)
# `scheme://user:password@`, as `\b[a-zA-Z][a-zA-Z0-9+.-]*://([^/\s:@]*):([^@\s/]+)@` would find it. That one
# regex is quadratic (every word boundary in a long run of scheme characters, `a.a.a.a…`, starts an attempt
# that scans the run for '://'), so `_url_credentials` anchors on each '://' instead.
_SCHEME_RUN = re.compile(r"[a-zA-Z0-9+.-]*")
_SCHEME_START = re.compile(r"\b[a-zA-Z]")
_URL_USERINFO = re.compile(r"([^/\s:@]*):([^@\s/]+)@")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_PATIENT_KEY = re.compile(r"(?i)patient|member|guardian|emergency|subscriber|beneficiar")


def secret_like_name(name: str) -> bool:
    """True for names like DB_PASSWORD or STRIPE_API_KEY, not for DB_PASSWORD_FILE or TOKEN_TTL."""
    return bool(_SECRET_NAME.search(name)) and not _NOT_A_SECRET.search(name)


def literal_secret_value(value: Any) -> bool:
    """A value that looks like an actual credential, not a path, a placeholder, a flag or a small number."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return False
    text = str(value).strip()
    if len(text) < 4 or text.startswith("/") or _PLACEHOLDER.match(text):
        return False
    return text.lower() not in ("true", "false", "none", "null", "disabled", "enabled")


def _url_credentials(text: str) -> bool:
    """A `scheme://user:password@` whose password is not a placeholder, in time linear in `text`.

    Each '://' (after the previous match) needs a scheme before it: a letter at a word boundary inside the
    run of scheme characters that ends there (the run is measured on the reversed text, and the runs of
    different '://'s never overlap, since ':' and '/' are not scheme characters).
    """
    rev = text[::-1]
    n = len(text)
    pos = 0
    i = text.find("://")
    while i != -1:
        m = _SCHEME_RUN.match(rev, n - i)  # a `[...]*` class: always a match, maybe empty
        run = 0 if m is None else m.end() - (n - i)
        if _SCHEME_START.search(text, max(i - run, pos), i) is not None:
            m = _URL_USERINFO.match(text, i + 3)
            if m is not None:
                if not _PLACEHOLDER.match(m.group(2)):
                    return True
                pos = m.end()
        i = text.find("://", max(i + 3, pos))
    return False


def relevant_phi(matches: list[PhiMatch]) -> dict[str, list[PhiMatch]]:
    """Group matches by field path; keep contact details (phone, e-mail) only beside patient data.

    On-call numbers and alert addresses are ordinary configuration; a phone number in a field that also
    holds an SSN, or under a key that names a patient, is not.
    """
    by_path: dict[str, list[PhiMatch]] = {}
    for m in matches:
        by_path.setdefault(m.path, []).append(m)
    out: dict[str, list[PhiMatch]] = {}
    for path, ms in by_path.items():
        strong = any(m.kind in STRONG_KINDS for m in ms)
        keep = [m for m in ms if m.kind not in CONTACT_KINDS or strong or _PATIENT_KEY.search(path)]
        if keep:
            out[path] = keep
    return out


def _phi_hits(obj: K8sObject, where: str, matches: list[PhiMatch]) -> Iterator[Hit]:
    for path, ms in relevant_phi(matches).items():
        kinds = sorted({m.kind for m in ms})
        shapes = sorted({m.redacted for m in ms})[:3]
        yield Hit(obj, f"PHI-shaped values ({', '.join(kinds)}) in {where}",
                  path=path, value=shapes, sensitive=True)


def _env_entries(inv: Inventory) -> Iterator[tuple[Container, int, dict[str, Any]]]:
    """(container, index, env entry) for every env entry of every container."""
    for ct in all_containers(inv):
        env = ct.c.get("env")
        if isinstance(env, list):
            for i, e in enumerate(env):
                if isinstance(e, dict):
                    yield ct, i, e


@check(
    id="KH-SEC-001",
    title="Credential passed as a literal environment value",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=CREDENTIALS,
    relation="supports",
    cis=("5.4.1",),
    nsa=("Secrets: do not hard-code credentials",),
    remediation="Move the value into a Secret (ideally synced from a secret manager) and mount it as a file; "
    "rotate the exposed credential.",
    description="A literal password or token in a pod spec is readable by anyone who can read the workload, "
    "is not encrypted at rest as a Secret would be, and ends up in git and CI logs.",
)
def literal_env_secret(inv: Inventory) -> Iterator[Hit]:
    for ct, i, e in _env_entries(inv):
        if "value" not in e:
            continue
        name = str(e.get("name") or "")
        if secret_like_name(name) and literal_secret_value(e.get("value")):
            yield Hit(ct.owner, f"container {ct.name} sets {name} to a literal value",
                      path=f"{ct.path}.env[{i}].value", value=redact(str(e["value"])), sensitive=True)


@check(
    id="KH-SEC-002",
    title="PHI-shaped values in a ConfigMap",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=PHI_EXPOSURE,
    relation="supports",
    remediation="Remove patient data from the ConfigMap: keep PHI in the encrypted database it belongs to; "
    "test fixtures must use synthetic identifiers that fail the SSN/NPI validity rules.",
    description="ConfigMaps are not encrypted at rest by the Secret encryption provider, are readable by "
    "broad roles and are copied into backups and logs; SSNs, NPIs, MRNs, birth dates and HL7/FHIR "
    "payloads there are ePHI outside every safeguard.",
)
def phi_in_configmap(inv: Inventory) -> Iterator[Hit]:
    for obj in inv.of_kind("ConfigMap"):
        data = obj.doc.get("data")
        if isinstance(data, dict) and data:
            scan = PhiScan()
            scan.add_value(data, "data")
            yield from _phi_hits(obj, "ConfigMap data", scan.matches)


@check(
    id="KH-SEC-003",
    title="PHI-shaped values in container environment variables",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=PHI_EXPOSURE,
    relation="supports",
    remediation="Do not put patient data in env: it is visible in the pod spec, in /proc and in crash "
    "reports. Read it from the application's data store.",
    description="Environment values are part of the workload object: anyone who can get pods or "
    "deployments reads them, and they are stored unencrypted in etcd.",
)
def phi_in_env(inv: Inventory) -> Iterator[Hit]:
    for ct, i, e in _env_entries(inv):
        value = e.get("value")
        if isinstance(value, str | int) and not isinstance(value, bool):
            scan = PhiScan()
            scan.add_text(str(value), str(e.get("name") or ""), path=f"{ct.path}.env[{i}].value")
            if scan.matches:
                yield from _phi_hits(ct.owner, f"env {e.get('name', '?')} of container {ct.name}", scan.matches)


@check(
    id="KH-SEC-004",
    title="PHI-shaped values in labels or annotations",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=PHI_EXPOSURE,
    relation="supports",
    remediation="Never identify a patient in metadata: use an opaque, non-derivable id if a workload must be "
    "tied to a record.",
    description="Labels and annotations are returned by every list call, indexed by tooling, exported to "
    "metrics and logs (kube-state-metrics, audit events), so PHI there spreads widely.",
)
def phi_in_metadata(inv: Inventory) -> Iterator[Hit]:
    for obj in inv.objects:
        meta = obj.doc.get("metadata")
        # most objects carry neither: skip them before making a generator for each of the 18,040 at 2,000 workloads
        if isinstance(meta, dict) and (meta.get("labels") or meta.get("annotations")):
            yield from _metadata_hits(obj, meta, "metadata", "")
    for ps in workload_specs(inv):
        if ps.template_meta is not ps.owner.doc.get("metadata"):
            prefix = ps.path[: -len(".spec")] + ".metadata" if ps.path.endswith(".spec") else "metadata"
            yield from _metadata_hits(ps.owner, ps.template_meta, prefix, " of the pod template")


def _metadata_hits(obj: K8sObject, meta: dict[str, Any], prefix: str, where: str) -> Iterator[Hit]:
    for field in ("labels", "annotations"):
        items = meta.get(field)
        if not isinstance(items, dict) or not items:
            continue
        scan = PhiScan()
        for key, value in items.items():
            # values are strings in valid manifests; the prefilter rejects nearly all of them cheaply
            if isinstance(value, str) and might_contain_phi(value) and key != _LAST_APPLIED:
                scan.add_text(value, str(key), path=join_path(f"{prefix}.{field}", str(key)))
        if scan.matches:
            yield from _phi_hits(obj, f"{field}{where}", scan.matches)


@check(
    id="KH-SEC-005",
    title="Secret exposed through an environment variable",
    area=AREA,
    severity=Severity.LOW,
    phi_severity=Severity.MEDIUM,
    hipaa=("164.312(a)(2)(iv)", "164.312(d)"),
    relation="supports",
    cis=("5.4.1",),
    remediation="Mount the Secret as a read-only volume and let the application read the file.",
    description="Secrets in environment variables leak through /proc/<pid>/environ, child processes, crash "
    "dumps and debug endpoints; files on a tmpfs volume do not.",
)
def secret_env_ref(inv: Inventory) -> Iterator[Hit]:
    for ct in all_containers(inv):
        c = ct.c
        env = c.get("env")
        if isinstance(env, list):
            for i, e in enumerate(env):
                vf = e.get("valueFrom") if isinstance(e, dict) else None
                ref = vf.get("secretKeyRef") if isinstance(vf, dict) else None
                if ref is not None:
                    yield Hit(ct.owner, f"container {ct.name} reads Secret {as_dict(ref).get('name', '?')} "
                              "into env", path=f"{ct.path}.env[{i}].valueFrom.secretKeyRef",
                              value=as_dict(ref).get("name"))
        env_from = c.get("envFrom")
        if isinstance(env_from, list):
            for i, e in enumerate(env_from):
                ref = as_dict(e).get("secretRef")
                if ref is not None:
                    yield Hit(ct.owner, f"container {ct.name} loads Secret {as_dict(ref).get('name', '?')} "
                              "with envFrom", path=f"{ct.path}.envFrom[{i}].secretRef",
                              value=as_dict(ref).get("name"))


@check(
    id="KH-SEC-006",
    title="Credentials embedded in a connection URL",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=CREDENTIALS,
    relation="supports",
    cis=("5.4.1",),
    remediation="Remove the user:password part from the URL; pass the password from a mounted Secret, or "
    "use workload identity / IAM authentication to the database.",
    description="scheme://user:password@host URLs in ConfigMaps or env put a database password (often to "
    "the database that holds ePHI) in plain text in the manifest.",
)
def url_credentials(inv: Inventory) -> Iterator[Hit]:
    for obj in inv.of_kind("ConfigMap"):
        data = obj.doc.get("data")
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if isinstance(value, str) and "://" in value and _url_credentials(value):
                yield Hit(obj, f"ConfigMap key {key} embeds credentials in a URL", path=join_path("data", str(key)),
                          value=redact(value), sensitive=True)
    for ct, i, e in _env_entries(inv):
        value = e.get("value")
        if isinstance(value, str) and "://" in value and _url_credentials(value):
            yield Hit(ct.owner, f"container {ct.name} env {e.get('name', '?')} embeds credentials in a URL",
                      path=f"{ct.path}.env[{i}].value", value=redact(value), sensitive=True)


@check(
    id="KH-SEC-007",
    title="Credential stored in a ConfigMap",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=CREDENTIALS,
    relation="supports",
    remediation="Move the value into a Secret (encrypted at rest, narrower RBAC) and rotate it.",
    description="ConfigMaps are meant for non-confidential data: roles that read them (often everyone in "
    "the namespace) read the credential, and it is not encrypted at rest.",
)
def configmap_credential(inv: Inventory) -> Iterator[Hit]:
    for obj in inv.of_kind("ConfigMap"):
        data = obj.doc.get("data")
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if secret_like_name(str(key)) and literal_secret_value(value) and "\n" not in str(value).strip():
                yield Hit(obj, f"ConfigMap key {key} holds a credential-like value", path=join_path("data", str(key)),
                          value=redact(str(value)), sensitive=True)


# --- KH-SEC-008: Secret manifests that carry their values ------------------------------------------------

# Keys whose value is public or merely descriptive: a CA or server certificate, the namespace of a
# service-account token, SSH host keys, where a database lives and who logs in (the password is the secret).
_PUBLIC_KEYS = frozenset({"ca.crt", "tls.crt", "namespace", "known_hosts", "ssh-knownhosts"})
_DESCRIPTIVE_KEY = re.compile(
    r"(?i)(^|[._-])(host|hostname|port|user|username|database|dbname|db|region|sslmode|schema)$"
)
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_PUBLIC_PEM = frozenset({"CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CRL", "PUBLIC KEY", "RSA PUBLIC KEY"})
_SSH_PUBLIC = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-\S+|sk-\S+) [A-Za-z0-9+/=]+")
# Values that are not the credential but a slot for it: a template expression filled in at deploy time,
# SOPS ciphertext, or a mask (`****`). A placeholder *word* (CHANGEME) is not exempt: applied as committed,
# it is the credential.
_TEMPLATE_VALUE = re.compile(r"^(\$\{.*\}|\$\(.*\)|\{\{.*\}\}|<[^<>]*>|\(\(.*\)\)|ENC\[.*\]|\*+|x+|X+)$", re.S)
_SERVER_FIELDS = ("uid", "resourceVersion", "managedFields")


def _decoded(raw: str) -> str:
    """A `data` value as text; an undecodable one is judged as written (it is still committed content)."""
    try:
        return base64.b64decode("".join(raw.split()), validate=True).decode("utf-8", errors="replace")
    except ValueError:  # binascii.Error is a ValueError
        return raw


def committed_credential(key: str, text: str) -> bool:
    """True when `text` (the decoded value of Secret key `key`) is a credential, not a slot or public data."""
    text = text.strip()
    if not text or _TEMPLATE_VALUE.match(text):
        return False
    if key.lower() in _PUBLIC_KEYS or key.lower().endswith(".pub") or _DESCRIPTIVE_KEY.search(key):
        return False
    blocks = set(_PEM_BLOCK.findall(text))
    if blocks and blocks <= _PUBLIC_PEM:
        return False
    return not _SSH_PUBLIC.match(text)


def _live_export(obj: K8sObject) -> bool:
    """A Secret piped in from `kubectl get -o yaml`: the cluster's own copy, not a manifest anyone committed."""
    meta = obj.metadata
    return obj.file == "<stdin>" and any(meta.get(f) for f in _SERVER_FIELDS)


def committed_secret_keys(obj: K8sObject) -> list[tuple[str, str]]:
    """(key, evidence path such as `data.password`) of each credential value a Secret manifest carries."""
    doc = obj.doc
    if isinstance(doc.get("sops"), dict) or _live_export(obj):  # SOPS-encrypted file; cluster export
        return []
    keys: list[tuple[str, str]] = []
    for field in ("data", "stringData"):
        values = doc.get(field)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if value is None or isinstance(value, bool | dict | list):  # not a value Kubernetes accepts
                continue
            text = str(value)
            if field == "data" and isinstance(value, str):
                text = _decoded(value)
            if committed_credential(str(key), text):
                keys.append((str(key), join_path(field, str(key))))
    return keys


@check(
    id="KH-SEC-008",
    title="Credential committed in a Secret manifest",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=("164.312(a)(2)(iv)", "164.312(d)", "164.308(a)(1)(ii)(B)"),
    relation="supports",
    cis=("5.4.1",),
    nsa=("Secrets: do not hard-code credentials",),
    remediation="Remove the values from the repository (keep the Secret out of git, or commit it encrypted: "
    "SOPS, Sealed Secrets, or an ExternalSecret that syncs from a secret manager) and rotate every "
    "credential that was committed: it stays in the git history.",
    description="`data` is base64, an encoding, not encryption: a Secret manifest with values puts the "
    "credential in plain text in the repository, its forks, CI caches and every clone, beyond the "
    "cluster's RBAC and etcd encryption, and in the history after the file is deleted. High, as a "
    "literal credential in a pod spec (KH-SEC-001); critical in a PHI namespace, where the credential "
    "opens systems that hold ePHI. Not flagged: empty values, template slots (`${VAR}`, `{{ .x }}`, "
    "`<password>`), SOPS ciphertext, public material (certificates, public keys, `ca.crt`, the "
    "`namespace` of a service-account token) and descriptive keys (host, port, username); a Secret piped "
    "in from a live cluster (`kubectl get -o yaml | kubehipaa scan -`, with server-set metadata) is the "
    "cluster's copy, not a committed manifest.",
)
def secret_manifest_values(inv: Inventory) -> Iterator[Hit]:
    for obj in inv.of_kind("Secret"):
        keys = committed_secret_keys(obj)
        if keys:
            names = [name for name, _ in keys]
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            what = f"the value of key {shown}" if len(names) == 1 else f"the values of keys {shown}"
            # Key names only: the values (and their base64) never leave this function.
            yield Hit(obj, f"Secret manifest carries {what} in the file (not shown)",
                      path=keys[0][1], value=[path for _, path in keys], sensitive=True)
