"""Kernel security profiles: AppArmor, seccomp (baseline and restricted) and SELinux options."""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.pss.api import Level
from kubehipaa.engines.pss.base import Check, Containers, VersionedCheck
from kubehipaa.engines.pss.helpers import go_quote, is_windows, join_quote, pluralize

Result = tuple[str, str] | None

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
_GOOD_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})


def _apparmor_annotation_ok(value: Any) -> bool:
    value = "" if value is None else str(value)
    return value == "" or value == "runtime/default" or value.startswith("localhost/")


def _profile_type(profile: Any) -> str:
    return str(profile.get("type") or "")


def app_armor_profile_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    setters: list[str] = []
    values: set[str] = set()
    psc = spec.get("securityContext")
    if psc:
        prof = psc.get("appArmorProfile")
        if prof is not None and _profile_type(prof) not in _GOOD_PROFILE_TYPES:
            setters.append("pod")
            values.add(_profile_type(prof))
    bad = []
    if "appArmorProfile" in ctrs.sc_keys:
        for c, sc in ctrs:
            if not sc:
                continue
            prof = sc.get("appArmorProfile")
            if prof is not None and _profile_type(prof) not in _GOOD_PROFILE_TYPES:
                bad.append(c.get("name", ""))
                values.add(_profile_type(prof))
    if bad:
        setters.append(f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)}")
    annotations = meta.get("annotations")
    if not setters and not annotations:
        return None
    value_list = sorted(values)
    if annotations:
        forbidden = []
        for k in annotations:
            if k.startswith(APPARMOR_ANNOTATION_PREFIX):
                v = annotations[k]
                if not _apparmor_annotation_ok(v):
                    forbidden.append(f"{k}={go_quote('' if v is None else str(v))}")
        if forbidden:
            forbidden.sort()
            value_list.extend(forbidden)
            setters.append(pluralize("annotation", "annotations", len(forbidden)))
    if setters:
        return pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(value_list)), (
            f"{' and '.join(setters)} must not set AppArmor profile type to {join_quote(value_list)}"
        )
    return None


def _seccomp_annotation_ok(value: Any) -> bool:
    value = "" if value is None else str(value)
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def seccomp_baseline_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    """Before v1.19 seccomp was configured through alpha annotations; only those are checked."""
    annotations = meta.get("annotations")
    if not annotations:
        return None
    forbidden: set[str] = set()
    if SECCOMP_POD_ANNOTATION in annotations:
        val = annotations[SECCOMP_POD_ANNOTATION]
        if not _seccomp_annotation_ok(val):
            forbidden.add(f"{SECCOMP_POD_ANNOTATION}={go_quote('' if val is None else str(val))}")
    for c, _sc in ctrs:
        key = SECCOMP_CONTAINER_ANNOTATION_PREFIX + str(c.get("name", ""))
        if key in annotations:
            val = annotations[key]
            if not _seccomp_annotation_ok(val):
                forbidden.add(f"{key}={go_quote('' if val is None else str(val))}")
    if forbidden:
        return "seccompProfile", (
            f"forbidden {pluralize('annotation', 'annotations', len(forbidden))} {', '.join(sorted(forbidden))}"
        )
    return None


def _seccomp_fields(spec: dict[str, Any], ctrs: Containers, require: bool) -> Result:
    setters: list[str] = []
    values: set[str] = set()
    pod_set = False
    psc = spec.get("securityContext")
    if psc:
        prof = psc.get("seccompProfile")
        if prof is not None:
            if _profile_type(prof) not in _GOOD_PROFILE_TYPES:
                setters.append("pod")
                values.add(_profile_type(prof))
            else:
                pod_set = True
    explicit = []
    implicit = []
    if "seccompProfile" not in ctrs.sc_keys and (pod_set or not require):
        ctrs = _NONE  # no container sets a profile and none needs one
    for c, sc in ctrs:
        prof = sc.get("seccompProfile") if sc else None
        if prof is not None:
            if _profile_type(prof) not in _GOOD_PROFILE_TYPES:
                explicit.append(c.get("name", ""))
                values.add(_profile_type(prof))
        elif require and not pod_set:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append(f"{pluralize('container', 'containers', len(explicit))} {join_quote(explicit)}")
    if setters:
        return "seccompProfile", (
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
            f"{join_quote(sorted(values))}"
        )
    if implicit:
        return "seccompProfile", (
            f"pod or {pluralize('container', 'containers', len(implicit))} {join_quote(implicit)} "
            'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
        )
    return None


def seccomp_baseline_1_19(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    return _seccomp_fields(spec, ctrs, require=False)


def seccomp_restricted_1_19(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    return _seccomp_fields(spec, ctrs, require=True)


def seccomp_restricted_1_25(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    """From v1.25 Windows pods are exempt (seccomp is invalid for them)."""
    if is_windows(spec):
        return None
    return _seccomp_fields(spec, ctrs, require=True)


_NONE = Containers([], set())

SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SELINUX_TYPES_1_31 = SELINUX_TYPES_1_0 | {"container_engine_t"}


def _selinux_problems(opts: Any, allowed: frozenset[str], found: list[Any]) -> bool:
    """True when `opts` is valid; otherwise records (bad type or None, user set, role set) in `found`."""
    t = str(opts.get("type") or "")
    user = bool(opts.get("user"))
    role = bool(opts.get("role"))
    if t in allowed and not user and not role:
        return True
    found.append((None if t in allowed else t, user, role))
    return False


def _selinux(spec: dict[str, Any], ctrs: Containers, allowed: frozenset[str]) -> Result:
    setters: list[str] = []
    found: list[Any] = []
    psc = spec.get("securityContext")
    if psc:
        opts = psc.get("seLinuxOptions")
        if opts is not None and not _selinux_problems(opts, allowed, found):
            setters.append("pod")
    if "seLinuxOptions" in ctrs.sc_keys:
        bad = []
        for c, sc in ctrs:
            if not sc:
                continue
            opts = sc.get("seLinuxOptions")
            if opts is not None and not _selinux_problems(opts, allowed, found):
                bad.append(c.get("name", ""))
        if bad:
            setters.append(f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)}")
    if not setters:
        return None
    bad_types = sorted({t for t, _, _ in found if t is not None})
    data = []
    if bad_types:
        data.append(f"{pluralize('type', 'types', len(bad_types))} {join_quote(bad_types)}")
    if any(user for _, user, _ in found):
        data.append("user may not be set")
    if any(role for _, _, role in found):
        data.append("role may not be set")
    return "seLinuxOptions", (
        f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"
    )


def selinux_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    return _selinux(spec, ctrs, SELINUX_TYPES_1_0)


def selinux_1_31(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    return _selinux(spec, ctrs, SELINUX_TYPES_1_31)


CHECKS = (
    Check(
        "appArmorProfile",
        Level.BASELINE,
        (VersionedCheck(0, app_armor_profile_1_0),),
        "AppArmor profile (field or beta annotation) must be RuntimeDefault/Localhost or unset",
    ),
    Check(
        "seccompProfile_baseline",
        Level.BASELINE,
        (VersionedCheck(0, seccomp_baseline_1_0), VersionedCheck(19, seccomp_baseline_1_19)),
        "seccomp profile, if set, must be RuntimeDefault or Localhost (annotations before v1.19)",
    ),
    Check(
        "seccompProfile_restricted",
        Level.RESTRICTED,
        (
            VersionedCheck(19, seccomp_restricted_1_19, overrides=("seccompProfile_baseline",)),
            VersionedCheck(25, seccomp_restricted_1_25, overrides=("seccompProfile_baseline",)),
        ),
        "seccomp profile must be set to RuntimeDefault or Localhost (v1.25+: not Windows pods)",
    ),
    Check(
        "seLinuxOptions",
        Level.BASELINE,
        (VersionedCheck(0, selinux_1_0), VersionedCheck(31, selinux_1_31)),
        "seLinuxOptions.type limited to container types; user and role must be unset",
    ),
)
