"""`.kubehipaa.yaml`: which namespaces hold PHI, exceptions, allowed egress, retention, break-glass identities.

Validated with pydantic and `extra="forbid"` so a typo (`exeptions:`) is an error, not a silently ignored
setting that makes a scan look cleaner than it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kubehipaa.errors import ConfigError
from kubehipaa.sources import k8s_yaml

CONFIG_NAMES = (".kubehipaa.yaml", ".kubehipaa.yml")
DEFAULT_PHI_LABEL = {"kubehipaa.io/phi": "true"}


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


class ExceptionRule(_Strict):
    check: str = Field(description="Check id, e.g. KH-WL-001 (a trailing * matches a prefix).")
    resource: ResourceMatch = Field(default_factory=ResourceMatch)
    justification: str = Field(min_length=1)
    owner: str = Field(min_length=1)
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


class BreakGlassConfig(_Strict):
    groups: list[str] = Field(default_factory=lambda: ["incident-responders", "break-glass"])
    users: list[str] = Field(default_factory=list)


class Config(_Strict):
    phi: PhiConfig = Field(default_factory=PhiConfig)
    exceptions: list[ExceptionRule] = Field(default_factory=list)
    egress: EgressConfig = Field(default_factory=EgressConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    break_glass: BreakGlassConfig = Field(default_factory=BreakGlassConfig, alias="breakGlass")
    source: str | None = Field(default=None, exclude=True, description="Where the config was read from.")


def find_config(scan_paths: Sequence[str]) -> Path | None:
    """The first `.kubehipaa.yaml` in a scanned directory (or beside a scanned file)."""
    for raw in scan_paths:
        if raw == "-":
            continue
        path = Path(raw)
        folder = path if path.is_dir() else path.parent
        for name in CONFIG_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def load_config(path: str | None = None, scan_paths: Sequence[str] = ()) -> Config:
    """Load and validate the config; no file at all means the defaults."""
    config_path = Path(path) if path else find_config(scan_paths)
    if config_path is None:
        return Config()
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read config: {exc.strerror}") from None
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
    return config


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
