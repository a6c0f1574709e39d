"""Rule records and the small shared vocabulary (who is a control-plane principal, what is a public IP).

A rule is plain data plus one function. The detector dispatches each event only to the rules whose
`gate` says they can match it, so a rule about `clusterroles` costs nothing on the millions of
`leases` updates that make up most of a real log.

Gates:
- `resource`: the rule names `resources` (objectRef.resource, with `/subresource` when it has one) and
  `verbs`; the detector indexes it under each (resource, verb) pair.
- `failure`: response code >= 400 or an authorizer decision other than allow.
- `anonymous`: `system:anonymous` user or the `system:unauthenticated` group.
- `impersonation`: the event has `impersonatedUser`.
- `breakglass`: the user or one of its groups is a configured break-glass identity.
- `body`: the event carries a requestObject or responseObject.
- `auditid`: the event's auditID was already used by a different request (another verb, requestURI, user or
  request time; see `event.request_signature`). Not a per-event test: the detector's de-duplication finds
  it, and runs these rules on the request that reuses the id, before that request's own rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from kubehipaa.frameworks.rules import REVIEW_REMEDIATION, Family, RuleMeta
from kubehipaa.model import Severity

if TYPE_CHECKING:
    from kubehipaa.engines.auditlog.event import AuditEvent

GATES = ("resource", "failure", "anonymous", "impersonation", "breakglass", "body", "auditid")

SYSTEM_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "gke-system", "gke-managed-system", "gmp-system"}
)
"""Namespaces that belong to the platform: control-plane identities acting here are expected."""

ANONYMOUS_USER = "system:anonymous"
UNAUTHENTICATED_GROUP = "system:unauthenticated"


@dataclass(slots=True)
class DetectorConfig:
    """Tunables. Defaults follow the issue; break-glass identities come from `.kubehipaa.yaml`."""

    break_glass_groups: frozenset[str] = frozenset({"incident-responders", "break-glass"})
    break_glass_users: frozenset[str] = frozenset()
    failure_threshold: int = 10
    failure_window_s: int = 600
    secret_burst_threshold: int = 15
    secret_burst_window_s: int = 1800
    secret_denied_threshold: int = 5
    secret_denied_window_s: int = 900
    public_forbidden_threshold: int = 10
    public_forbidden_window_s: int = 1800
    first_seen_learning_s: int = 3600
    """Warm-up of the rules that compare with what came before: seconds of log time, from the earliest event,
    during which first-seen (KH-AUDLOG-023) learns and does not alert, and KH-AUDLOG-026 learns identities that
    have no history instead of judging them (`audit analyze --learning-period`; 0: no warm-up). With `--state`
    the learning carries over, so only the first run ever warms up."""
    secret_spike_window_s: int = 60
    """KH-AUDLOG-026 (engines/auditlog/baseline.py): the sliding window, and the size of a history bucket."""
    secret_spike_floor: int = 10
    """Distinct secrets in one window below which no spike is reported, however quiet the identity's history."""
    secret_spike_namespace_floor: int = 4
    """Distinct namespaces in one window below which no spike is reported."""
    secret_spike_factor: float = 3.0
    """A spike is above this many times the identity's mean (and above its decayed peak)."""
    secret_spike_memory_s: int = 7 * 86400
    """Half-life of the decayed peak: a busier window than usual is normal again for about this long."""
    max_keys: int = 50_000
    """Bound on every per-identity / per-IP table (least recently used keys are evicted)."""

    @classmethod
    def from_config(cls, config: object | None) -> DetectorConfig:
        """From a `kubehipaa.config.Config` (only `break_glass` is read)."""
        bg = getattr(config, "break_glass", None)
        if bg is None:
            return cls()
        return cls(break_glass_groups=frozenset(bg.groups), break_glass_users=frozenset(bg.users))


MatchFn = Callable[["AuditEvent", DetectorConfig], "str | None"]
KeyFn = Callable[["AuditEvent"], str]


@dataclass(frozen=True, slots=True)
class Window:
    """A stateful rule over matching events that share `key`.

    mode `count`: alert when `threshold` matches fall within `seconds`; `distinct`: when `threshold`
    distinct `distinct(event)` values do; after an alert the key stays quiet for one window (one alert per
    burst). mode `first_seen`: alert on a key, or a (key, distinct) pair, not seen before, once `seconds`
    of log time (the learning period) have passed. mode `baseline`: per key, distinct `distinct` values (and
    their namespaces) within `seconds`, judged against the key's own history (`baseline.SpikeBaseline`; its
    floor is `threshold`, the other bounds are the `secret_spike_*` fields). Each table holds at most `DetectorConfig.max_keys`
    keys, so memory does not grow with the length of the log.
    """

    seconds_attr: str
    threshold_attr: str
    key: KeyFn
    key_label: str
    distinct: KeyFn | None = None
    mode: str = "count"


@dataclass(frozen=True, slots=True)
class Rule:
    """One built-in detection: metadata an auditor reads, and the matching function."""

    id: str
    title: str
    severity: Severity
    hipaa: tuple[str, ...]
    logic: str
    match: MatchFn
    gate: str = "resource"
    resources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    window: Window | None = None
    refs: tuple[str, ...] = field(default=())
    remediation: str = ""
    """What to do about an alert, when it is not obvious from the title (empty: review the request, which the
    metadata states as `REVIEW_REMEDIATION`)."""
    family: Family = "audit"
    """`audit` for the built-in detections, `sigma` for a Sigma rule shown in the catalog."""

    @property
    def meta(self) -> RuleMeta:
        """This rule's metadata in the common model (`frameworks.rules`), validated when the rule is registered."""
        return RuleMeta(id=self.id, title=self.title, severity=self.severity, hipaa=self.hipaa,
                        remediation=self.remediation or REVIEW_REMEDIATION, description=self.logic,
                        family=self.family)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.label,
            "hipaa": list(self.hipaa),
            "logic": self.logic,
            "gate": self.gate,
            "resources": list(self.resources),
            "verbs": list(self.verbs),
            "windowed": self.window is not None,
            "references": list(self.refs),
            **({"remediation": self.remediation} if self.remediation else {}),
        }


# -- shared predicates -----------------------------------------------------------------------------------


def is_serviceaccount(username: str) -> bool:
    return username.startswith("system:serviceaccount:")


def sa_namespace(username: str) -> str:
    parts = username.split(":")
    return parts[2] if len(parts) >= 4 else ""


@lru_cache(maxsize=16384)
def is_control_plane(username: str) -> bool:
    """Kubernetes and cloud-provider components: `system:` users (nodes, controller-manager, scheduler),
    `eks:`/`aks:` users, and service accounts of the system namespaces. Never the anonymous user."""
    if not username:
        return False
    if username.startswith("system:serviceaccount:"):
        return sa_namespace(username) in SYSTEM_NAMESPACES
    if username in (ANONYMOUS_USER, "system:unauthenticated"):
        return False
    return username.startswith(("system:", "eks:", "aks:"))


@lru_cache(maxsize=16384)
def is_human(username: str) -> bool:
    """Not a service account, not a `system:`/`eks:`/`aks:` component, not anonymous."""
    return bool(username) and not username.startswith(("system:", "eks:", "aks:"))


def expected_platform_action(ev: AuditEvent) -> bool:
    """A control-plane identity acting on a cluster-scoped object or inside a system namespace.

    This is the exclusion most detections share: the platform managing itself is expected; the same
    identity reaching into an application (PHI) namespace is not. (Reads the Struct fields directly: this
    runs for most selected events.)
    """
    u = ev.user
    name = u.username if u is not None else None
    if not name or not is_control_plane(name):
        return False
    o = ev.objectRef
    ns = o.namespace if o is not None else None
    return not ns or ns in SYSTEM_NAMESPACES


def succeeded(ev: AuditEvent) -> bool:
    """The request was allowed and did not fail (1xx-3xx; with no code, only when the authorizer said allow
    or said nothing)."""
    rs = ev.responseStatus
    code = rs.code if rs is not None else None
    if code:
        return code < 400
    ann = ev.annotations
    dec = ann.decision if ann is not None else None
    return dec is None or dec in ("", "allow")


@lru_cache(maxsize=65536)
def is_public_ip(text: str) -> bool:
    """A routable address: not private (RFC 1918/4193), loopback, link-local, CGNAT or reserved."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if ip.version == 4 and ip in _CGNAT:
        return False
    return bool(ip.is_global)


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


_HEALTH_CHECK_NETS = (ipaddress.ip_network("35.191.0.0/16"), ipaddress.ip_network("130.211.0.0/22"))
"""Google Cloud load-balancer health checkers (published source ranges)."""


@lru_cache(maxsize=4096)
def is_cloud_health_checker(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(ip in net for net in _HEALTH_CHECK_NETS)
