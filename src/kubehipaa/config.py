"""`.kubehipaa.yaml`: which namespaces hold PHI, exceptions, allowed egress, retention, break-glass identities.

Validated with pydantic and `extra="forbid"` so a typo (`exeptions:`) is an error, not a silently ignored
setting that makes a scan look cleaner than it is.
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
import os
import stat
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from kubehipaa.config_location import CONFIG_NAMES as CONFIG_NAMES
from kubehipaa.config_location import configs_beside, locate_config
from kubehipaa.errors import ConfigError
from kubehipaa.sources import k8s_yaml

DEFAULT_PHI_LABEL = {"kubehipaa.io/phi": "true"}
ALL_RESOURCES = "all-resources"
DEFAULT_MAX_EXPIRY_DAYS = 365
_GLOB_CHARS = frozenset("*?[")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PhiConfig(_Strict):
    namespaces: list[str] = Field(default_factory=list, description="Namespaces that hold PHI, by name.")
    selector: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PHI_LABEL),
        description="Namespace labels that mark a PHI namespace (all must match).",
    )


class ResourceMatch(_Strict):
    """Which resources an exception covers; omitted fields match anything, `*` globs are allowed."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    container: str | None = Field(
        default=None,
        description="Container name: only findings whose evidence is in that container (containers, "
        "initContainers or ephemeralContainers) match; pod-level findings do not.",
    )

    def restricts(self) -> bool:
        """False when every field is omitted or a pattern that matches any value the field can take.

        Why probe rather than look for `*`: `?*`, `*?*` or `[!.]*` match every name an object can have just
        as `*` does, and an exception written with one of them must not pass as naming a resource."""
        fields = (self.kind, self.namespace, self.name, self.container)
        return any(value is not None and not _matches_any_name(value) for value in fields)


# Values a kind, namespace, name or container name can take: one character (letter or digit), the longest
# name, the characters DNS subdomains and kinds use. A pattern matching all of them restricts nothing.
_NAME_PROBES = ("a", "z", "0", "9", "A", "Z", "default", "kube-system", "Deployment", "ClusterRoleBinding",
                "x.y-z", "a" * 253)


def _matches_any_name(pattern: str) -> bool:
    return all(fnmatch.fnmatchcase(probe, pattern) for probe in _NAME_PROBES)


class ExceptionRule(_Strict):
    check: str = Field(description="Check id, e.g. KH-WL-001 (`*`, `?` and `[...]` globs are allowed).")
    resource: ResourceMatch = Field(default_factory=ResourceMatch)
    scope: Literal["all-resources"] | None = Field(
        default=None,
        description="Required, as `all-resources`, when a check pattern matching several checks names no "
        "resource: such an exception suppresses every finding of those checks.",
    )
    justification: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    approver: str | None = Field(
        default=None, min_length=1,
        description="Who accepted the risk (optional; shown in the exceptions register beside the owner).",
    )
    expires: dt.date

    @field_validator("expires", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> Any:
        # YAML is read as Kubernetes reads it, so a timestamp is its text: `2026-01-01T00:00:00Z` names a day.
        if isinstance(value, str) and len(value) > 10 and value[10:11] in ("T", "t", " "):
            try:
                return dt.datetime.fromisoformat(value).date()
            except ValueError:
                return value
        if isinstance(value, dt.datetime):
            return value.date()
        return value


class EgressConfig(_Strict):
    allowed_cidrs: list[str] = Field(default_factory=list, description="Egress destinations PHI pods may reach.")


class IngressAllow(_Strict):
    """A declared flow into a PHI namespace that is not a finding."""

    to_namespace: str
    from_namespace: str | None = None
    from_cidr: str | None = None
    to_workload: str | None = None


class NetworkConfig(_Strict):
    allowed_ingress: list[IngressAllow] = Field(default_factory=list)


class AuditConfig(_Strict):
    retention_days: int = Field(default=2190, ge=1, description="164.316(b)(2)(i): six years by default.")


class HistoryConfig(_Strict):
    """Where `scan --save` records scans and how long they are kept (docs/history.md)."""

    url: str | None = Field(
        default=None,
        description="Database URL: sqlite:///PATH or postgresql://USER@HOST/DB (give the password through "
        "PGPASSWORD or ~/.pgpass, not here). Overridden by --history-url and KUBEHIPAA_HISTORY_URL.",
    )
    path: str | None = Field(
        default=None, description="A SQLite file (relative to this config file); the same as url: sqlite:///PATH."
    )
    retention_days: int = Field(
        default=2190, ge=1,
        description="164.316(b)(2)(i): saved scans older than this are pruned when a scan is saved (six years).",
    )

    @model_validator(mode="after")
    def _one_location(self) -> HistoryConfig:
        if self.url is not None and self.path is not None:
            raise ValueError("give history.url or history.path, not both")
        return self


class BreakGlassConfig(_Strict):
    groups: list[str] = Field(default_factory=lambda: ["incident-responders", "break-glass"])
    users: list[str] = Field(default_factory=list)


class ExceptionPolicy(_Strict):
    """Limits every exception must respect, so an accepted risk is re-reviewed at least this often."""

    max_expiry_days: int = Field(
        default=DEFAULT_MAX_EXPIRY_DAYS, ge=1,
        description="An exception may expire at most this many days after the day of the scan.",
    )


ADMISSION_ONLY_RULES = frozenset({"KH-ADM-001", "KH-ADM-002", "KH-ADM-003"})
"""Rules the admission webhook judges that are not catalog checks (pipelines/admission.py): exceptions may name
them, so every command that validates exceptions must know them (`pipelines.scan.known_check_ids`)."""


class AdmissionRules(_Strict):
    """Rule ids (`fnmatch` globs over check ids and admission rule ids) given an admission action.

    Applied on top of the default table (`pipelines.admission.admission_actions`): `ignore` first, then `warn`,
    then `deny`, so a rule named in two lists gets the stricter action."""

    deny: list[str] = Field(default_factory=list, description="Rules whose findings reject the request.")
    warn: list[str] = Field(default_factory=list, description="Rules whose findings are returned as warnings.")
    ignore: list[str] = Field(
        default_factory=list,
        description="Rules not enforced at admission (`ignore`, not `off`: YAML reads an unquoted off as false).")


class AdmissionNamespaceRules(AdmissionRules):
    """Actions for the namespaces matching `namespace` (a glob), applied after the PHI/other table."""

    namespace: str = Field(min_length=1)


class AdmissionConfig(_Strict):
    """What `kubehipaa serve admission` enforces (docs/admission.md)."""

    phi: AdmissionRules = Field(default_factory=AdmissionRules,
                                description="Changes to the default table in PHI namespaces.")
    other: AdmissionRules = Field(default_factory=AdmissionRules,
                                  description="Changes to the default table in every other namespace.")
    namespaces: list[AdmissionNamespaceRules] = Field(
        default_factory=list, description="Per-namespace changes; every entry whose glob matches applies, in order.")
    required_labels: list[str] = Field(
        default_factory=lambda: ["app.kubernetes.io/name"], alias="requiredLabels",
        description="Labels every Pod and workload must carry (rule KH-ADM-001); [] turns the rule off.")
    require_digest: bool = Field(
        default=True, alias="requireDigest",
        description="Deny images without a digest in PHI namespaces (KH-IMG-001/002/003); false: warn.")
    deny_user_bindings: bool = Field(
        default=True, alias="denyUserBindings",
        description="Deny bindings that name users instead of groups in PHI scope (KH-RBAC-004); false: warn.")
    old_violations: Literal["warn", "deny"] = Field(
        default="warn", alias="oldViolations",
        description="UPDATE: a violation already present in oldObject warns (default) or denies.")
    cluster_scoped: Literal["phi", "other"] = Field(
        default="phi", alias="clusterScoped",
        description="Which table judges cluster-scoped objects (ClusterRoles, ClusterRoleBindings): they can "
        "grant access inside PHI namespaces, so the PHI table by default.")


class Config(_Strict):
    phi: PhiConfig = Field(default_factory=PhiConfig)
    exceptions: list[ExceptionRule] = Field(default_factory=list)
    exception_policy: ExceptionPolicy = Field(default_factory=ExceptionPolicy, alias="exceptionPolicy")
    egress: EgressConfig = Field(default_factory=EgressConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    break_glass: BreakGlassConfig = Field(default_factory=BreakGlassConfig, alias="breakGlass")
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    admission: AdmissionConfig = Field(default_factory=AdmissionConfig)
    source: str | None = Field(default=None, exclude=True, description="Where the config was read from.")
    _node: Any = PrivateAttr(default=None)
    """The YAML node the config was read from (when it came from a file): gives later errors their line."""

    def where(self, *loc: str | int) -> str:
        """`file:line` of the setting at `loc` (or just the file when the line is unknown), for error messages."""
        source = self.source or "<config>"
        line = _line_of(self._node, tuple(loc)) if self._node is not None else None
        return f"{source}:{line}" if line else source


def find_config(scan_paths: Sequence[str]) -> Path | None:
    """The first `.kubehipaa.yaml` in a scanned directory (or beside a scanned file), used or not.

    Which config a command actually uses is `locate_config`'s answer (the current directory's, or this
    one only with `--trust-config`); see kubehipaa.config_location for why.
    """
    found = configs_beside(scan_paths)
    return found[0][1] if found else None


def load_config(path: str | None = None, scan_paths: Sequence[str] = (), *, trust: bool = False) -> Config:
    """Load and validate the config `locate_config` picks: `path`, else (with `trust`) the one beside a
    scanned path, else the current directory's; no file at all means the defaults.

    A config beside `scan_paths` is not used without `trust`: it came with the input. Commands warn about
    it (cli.common.load_config_if_present); this library call only leaves it out.
    """
    location = locate_config(path, scan_paths, trust=trust)
    return read_config(location.path) if location.path is not None else Config()


MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""A config is a page of YAML; anything near this size is not one (and must not be read into memory whole)."""


def read_config(config_path: Path) -> Config:
    """Read and validate one config file (a regular file of UTF-8 YAML, at most MAX_CONFIG_BYTES)."""
    try:
        # O_NONBLOCK: opening a FIFO named like a config must not wait for a writer; it is refused below.
        fd = os.open(config_path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ConfigError(f"{config_path}: cannot read config: not a regular file")
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read config: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{config_path}: config is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{config_path}: config is not UTF-8 text") from None
    try:
        # The tool's one YAML reading (Kubernetes' rules): the config sits beside manifests and is written
        # like them, so `on`, `08` or `12:30` mean here what they mean there.
        data, node = k8s_yaml.load_single(text)
    except k8s_yaml.DocumentError as exc:
        where = f"{config_path}:{exc.line}" if exc.line else str(config_path)
        raise ConfigError(f"{where}: {exc.message}") from None
    return parse_config(data if data is not None else {}, str(config_path), node=node)


def parse_config(data: Any, source: str = "<config>", *, node: yaml.Node | None = None) -> Config:
    """Validate config data; the first problem becomes one line naming the key (and its line, given `node`)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: config must be a mapping")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "<root>"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        line = _line_of(node, loc) if node is not None else None
        prefix = f"{source}:{line}" if line else source
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a kubehipaa setting; check the spelling)"
        raise ConfigError(f"{prefix}: {where}: {msg}{more}") from None
    config.source = source
    config._node = node
    return config


def is_pattern(check: str) -> bool:
    """True when an exception's `check` is a glob (`*`, `?` or `[...]`), not a single check id."""
    return not _GLOB_CHARS.isdisjoint(check)


def matching_checks(pattern: str, known: Collection[str]) -> list[str]:
    """The known check ids `pattern` matches (case-sensitive, as findings are matched)."""
    return [cid for cid in known if fnmatch.fnmatchcase(cid, pattern)]


def is_broad(rule: ExceptionRule, known: Collection[str]) -> bool:
    """A glob over several checks with no resource restriction: it suppresses every finding of those checks."""
    return is_pattern(rule.check) and len(matching_checks(rule.check, known)) > 1 and not rule.resource.restricts()


def validate_exceptions(config: Config, known: Collection[str], today: dt.date) -> None:
    """Reject exceptions that would silence more than their author can have meant (one ConfigError line).

    Needs the ids of the registered checks, which this module does not import (it is loaded by commands
    that never run a check): the scan pipeline calls it before running. Errors, in file order:
    a check id or pattern that matches no known check (with the closest known id as a suggestion); a
    pattern over several checks that names no resource without `scope: all-resources`, or `scope:
    all-resources` beside a resource that restricts it; an expiry further out than
    `exceptionPolicy.max_expiry_days` from `today`.
    """
    max_days = config.exception_policy.max_expiry_days
    latest = today + dt.timedelta(days=max_days)
    for i, rule in enumerate(config.exceptions):
        field = f"exceptions.{i}"
        matched = matching_checks(rule.check, known)
        if not matched:
            problem = (f"check pattern {rule.check!r} matches no known check" if is_pattern(rule.check)
                       else f"unknown check id {rule.check!r}")
            raise ConfigError(
                f"{config.where('exceptions', i, 'check')}: {field}.check: {problem} "
                f"({_suggestion(rule.check, known)})"
            )
        restricted = rule.resource.restricts()
        if rule.scope == ALL_RESOURCES and restricted:
            raise ConfigError(
                f"{config.where('exceptions', i, 'scope')}: {field}.scope: 'all-resources' contradicts the "
                "resource this exception names; remove one of them"
            )
        if is_pattern(rule.check) and len(matched) > 1 and not restricted and rule.scope != ALL_RESOURCES:
            raise ConfigError(
                f"{config.where('exceptions', i)}: {field}: check {rule.check!r} matches {len(matched)} checks "
                "and no resource is named, so it would suppress every finding of those checks; name the "
                "resource (kind, namespace, name, container) or, if that is really meant, add "
                f"scope: {ALL_RESOURCES}"
            )
        if rule.expires > latest:
            raise ConfigError(
                f"{config.where('exceptions', i, 'expires')}: {field}.expires: the exception for {rule.check} "
                f"(owner {rule.owner}) expires on {rule.expires}, more than {max_days} days after today "
                f"({today}); choose a date on or before {latest}, or raise exceptionPolicy.max_expiry_days"
            )


def _suggestion(check: str, known: Collection[str]) -> str:
    """'did you mean X?' with the closest known id (or area pattern, for a glob), else where to look."""
    candidates = {cid.upper(): cid for cid in known}
    if is_pattern(check):
        candidates.update({f"{cid.rsplit('-', 1)[0]}-*": f"{cid.rsplit('-', 1)[0]}-*" for cid in known})
    close = difflib.get_close_matches(check.upper(), list(candidates), n=1, cutoff=0.6)
    if close:
        return f"did you mean {candidates[close[0]]}?"
    return "see `kubehipaa checks list` for the known ids"


def _line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc` (keys and list indexes), or of its deepest existing parent."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part or key.value == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
