"""The scan pipeline: loaded input → inventory → checks → findings, with exceptions applied and blind spots named.

`scan` is what `kubehipaa scan` runs between parsing its options and rendering: the control-plane files are
read (through `sources.controlplane`), the Inventory built, every check run (`run_scan`), the objects an
engine left out added to the input problems, and every warning a reader must see assembled. It prints
nothing: the CLI (or a later server) says what `ScanRun` carries and hands `ScanRun.result` to a report.
Loading the manifests stays with the caller (`cli.common.load_objects`, the one loading path of every
command, which reports each unreadable file as it is found).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubehipaa import collector
from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.config import ADMISSION_ONLY_RULES, Config, ExceptionRule, is_broad, validate_exceptions
from kubehipaa.config_location import IGNORED_CODE
from kubehipaa.errors import KubehipaaError
from kubehipaa.inventory import Inventory
from kubehipaa.model import Finding, K8sObject, ResourceRef, Severity
from kubehipaa.pipelines.check_inputs import assessment
from kubehipaa.pipelines.check_jobs import check_jobs, run_checks
from kubehipaa.sources.files import LOST, InputProblem, InputRecord, LoadResult

RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
# A container's place in an evidence path: `<pod spec path>.<list>[<index>]`, e.g.
# spec.template.spec.containers[0].securityContext.privileged (the convention of checks/_pods.py).
_CONTAINER_AT = re.compile(r"((?:[A-Za-z]\w*\.)*)(containers|initContainers|ephemeralContainers)\[(\d+)\]")


@dataclass(slots=True)
class CheckError:
    """A check that failed on this input; reported, never hidden."""

    check_id: str
    message: str


@dataclass(frozen=True, slots=True)
class ScanWarning:
    """Something the reader of a report must know because the findings alone would make it look cleaner.

    `code` is stable for tooling: `broad-exception` (an exception over several checks and every resource,
    carried in `exception`), `no-phi-namespace`, `no-network-policy`, `no-rbac`, `no-namespaces` (the
    input lacks what the PHI severities and the network, RBAC and namespace checks judge), `ignored-config` (a
    `.kubehipaa.yaml` in a scanned directory that was not used; added by the CLI, which looks for it).
    """

    code: str
    message: str
    exception: ExceptionRule | None = None


@dataclass(slots=True)
class ScanResult:
    findings: list[Finding]
    checks: list[Check]
    objects: int
    expired_exceptions: list[ExceptionRule] = field(default_factory=list)
    unused_exceptions: list[ExceptionRule] = field(default_factory=list)
    errors: list[CheckError] = field(default_factory=list)
    phi_namespaces: list[str] = field(default_factory=list)
    skipped: list[Any] = field(default_factory=list)
    """Input that was not analysed (`sources.files.InputProblem`): `run_scan` sets the objects an engine left
    out (an invalid NetworkPolicy, a malformed Role, a pod spec of the wrong shape; all lost input, exit 2);
    the caller that loaded the input adds its skipped documents."""
    warnings: list[ScanWarning] = field(default_factory=list)
    """Broad exceptions and coverage gaps, printed on every run and carried by every report."""
    assessed: set[str] = field(default_factory=set)
    """Ids of the selected checks that had input to judge (`check_inputs.assessment`)."""
    inputs: list[InputRecord] = field(default_factory=list)
    """The files (and stdin) the scanned objects came from, with SHA-256 (`scan` sets it from the loader)."""
    not_assessed: dict[str, list[str]] = field(default_factory=dict)
    """Why each other selected check (and a check whose input was partly unreadable) was not assessed: no
    input of its kind, a managed control plane, permission denied. The coverage report reads it."""

    @property
    def suppressed(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed]

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]

    def at_or_above(self, threshold: Severity) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed and f.severity >= threshold]


def run_scan(
    inv: Inventory,
    config: Config | None = None,
    *,
    checks: Sequence[Check] | None = None,
    today: dt.date | None = None,
    progress: Callable[[Check], None] | None = None,
    assess: bool = True,
    jobs: int | None = None,
) -> ScanResult:
    """Run `checks` (default: every registered check) over `inv` and apply the config's exceptions.

    `progress` is called after each check, so a CLI can show progress without this module printing.
    `assess=False` leaves out the coverage bookkeeping (`warnings`, `assessed`, `not_assessed`): the admission
    webhook scans one object per request and reads only the findings.
    Objects the engines left out while the checks ran are returned in `skipped` (`Inventory.skipped`).
    `jobs` (default `check_jobs()`: `$KUBEHIPAA_CHECK_JOBS`, else `parallel.jobs()`): more than one shares the
    checks with forked workers on large inputs (`pipelines.check_jobs`), with the same result.
    """
    config = config or inv.config
    selected = list(checks) if checks is not None else all_checks()
    today = today or dt.date.today()
    known = known_check_ids(selected)
    validate_exceptions(config, known, today)  # before any work: a bad exception is a config error (exit 2)
    findings: list[Finding] = []
    errors: list[CheckError] = []
    warnings: list[ScanWarning] = []
    assessed: set[str] = set()
    not_assessed: dict[str, list[str]] = {}
    # Checks allocate findings and derived views while every loaded object stays alive: each full cyclic
    # collection would walk the whole inventory again (a third of the check time at 85k objects) to find
    # next to no garbage. Paused until the result is complete (sorting 93,392 findings with the collector
    # back on cost 1 s, nearly all of it collections), and on a large input what was made is then frozen
    # (`collector.paused`). With more than one process on a large input the checks are shared with forked
    # workers (`check_jobs`); the outcomes, and the skipped input, are those of the serial run either way.
    with collector.paused() as pause:
        outcomes = run_checks(inv, selected, progress, check_jobs() if jobs is None else jobs)
        for chk, (found, error, _skips) in zip(selected, outcomes, strict=True):
            findings.extend(found)
            if error is not None:  # a check bug must not hide the other checks' findings
                errors.append(CheckError(chk.meta.id, error))
        findings.sort(key=lambda f: (-f.severity, f.check_id, f.resource.file, f.resource.line, f.resource.name))
        expired, unused = apply_exceptions(findings, config.exceptions, today, ContainerNames(inv))
        if assess:
            warnings = exception_warnings(config.exceptions, known, today) + coverage_warnings(inv)
            assessed, not_assessed = assessment(inv, selected)
        pause.freeze = len(inv.objects) >= collector.FREEZE_MIN_OBJECTS
    return ScanResult(
        findings, selected, len(inv.objects), expired, unused, errors, phi_namespaces=sorted(inv.phi_namespaces),
        skipped=inv.skipped, warnings=warnings, assessed=assessed, not_assessed=not_assessed,
    )


@dataclass(frozen=True, slots=True)
class ControlPlaneFiles:
    """The control-plane inputs of a scan (`--control-plane DIR` and the single-file options, `--managed`)."""

    directory: Path | None = None
    apiserver_manifest: Path | None = None
    encryption_config: Path | None = None
    audit_policy: Path | None = None
    kubelet_config: Path | None = None
    managed: str | None = None

    @property
    def requested(self) -> bool:
        """Whether any control-plane input was given (then the control plane is assessed from it)."""
        return any(x is not None for x in (self.directory, self.apiserver_manifest, self.encryption_config,
                                           self.audit_policy, self.kubelet_config, self.managed))


@dataclass(slots=True)
class ScanRun:
    """What a scan produced beyond its result: what the caller must tell the reader, and the input problems.

    `loaded.problems` holds every input problem (the loader's and the objects an engine left out, `left_out`);
    any that is lost input makes the run exit 2 after the report is written. `notes` are said once (stderr).
    """

    result: ScanResult
    loaded: LoadResult
    left_out: list[InputProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


CONTROL_PLANE_NOT_ASSESSED = (
    "control plane not assessed: the input has no kube-apiserver manifest, EncryptionConfiguration, audit Policy "
    "or KubeletConfiguration (add --control-plane DIR, or --managed eks|gke|aks)"
)


def select_checks(patterns: Sequence[str] = ()) -> list[Check]:
    """The registered checks whose id matches one of `patterns` (`fnmatch`; all checks when none is given).

    A pattern list matching nothing is an error: running no check would report a clean scan."""
    checks = all_checks()
    if not patterns:
        return checks
    chosen = [c for c in checks if any(fnmatch.fnmatchcase(c.meta.id, p) for p in patterns)]
    if not chosen:
        raise KubehipaaError(f"--check {' '.join(patterns)} matches no registered check (see `kubehipaa checks list`)")
    return chosen


def scan(
    loaded: LoadResult | None,
    config: Config,
    *,
    control_plane: ControlPlaneFiles | None = None,
    checks: Sequence[Check] | None = None,
    ignored_configs: Sequence[str] = (),
    today: dt.date | None = None,
    progress: Callable[[Check], None] | None = None,
) -> ScanRun:
    """Scan the loaded manifests (None: none were given) and the control-plane files with `checks`.

    `ignored_configs`: the messages about a `.kubehipaa.yaml` found in the input and not used (the caller
    said them when it looked for the config); the reports carry them as `ignored-config` warnings.
    """
    control_plane = control_plane or ControlPlaneFiles()
    loaded = loaded if loaded is not None else LoadResult()
    objects: list[K8sObject] = list(loaded.objects)
    if control_plane.requested:
        objects.extend(control_plane_objects(control_plane))
    inv = Inventory(objects, config)
    notes: list[str] = []
    if not control_plane.requested and not inv.control_plane.has_evidence():
        # Honest about what was checked: silence on encryption/audit/kubelet must not read as a pass.
        notes.append(CONTROL_PLANE_NOT_ASSESSED)
    result = run_scan(inv, config, checks=checks, today=today, progress=progress)
    # Objects an engine left out (an invalid NetworkPolicy, a malformed Role): lost input, the run exits 2.
    left_out = [InputProblem(item.file, item.line, item.message, LOST) for item in result.skipped]
    loaded.problems.extend(left_out)
    result.skipped = list(loaded.problems)
    result.warnings.extend(ScanWarning(IGNORED_CODE, message) for message in ignored_configs)
    result.inputs = list(loaded.inputs)
    return ScanRun(result, loaded, left_out, notes)


def control_plane_objects(files: ControlPlaneFiles) -> list[K8sObject]:
    """Control-plane files as objects (kube-apiserver flags, EncryptionConfiguration, audit Policy, kubelet)."""
    from kubehipaa.sources import controlplane

    return controlplane.collect_control_plane(
        control_plane_dir=files.directory,
        apiserver_manifest=files.apiserver_manifest,
        encryption_config=files.encryption_config,
        audit_policy=files.audit_policy,
        kubelet_config=files.kubelet_config,
        managed=files.managed,
    )


def known_check_ids(selected: Sequence[Check] = ()) -> set[str]:
    """Every registered check id (not only the selected ones: `--check` must not turn exceptions into errors),
    and the admission-only rule ids (an exception for one must not make `scan` reject the config)."""
    return {c.meta.id for c in all_checks()} | {c.meta.id for c in selected} | ADMISSION_ONLY_RULES


def check_exceptions(config: Config, today: dt.date | None = None) -> None:
    """Validate the config's exceptions against the registry now (the CLI calls it before loading input)."""
    validate_exceptions(config, known_check_ids(), today or dt.date.today())


def exception_warnings(rules: Sequence[ExceptionRule], known: Collection[str], today: dt.date) -> list[ScanWarning]:
    """One warning per live exception that covers several checks on every resource (`scope: all-resources`)."""
    return [
        ScanWarning(
            "broad-exception",
            f"exception for {rule.check} (owner {rule.owner}, expires {rule.expires}) suppresses every finding "
            "of the checks it matches on all resources (scope: all-resources)",
            rule,
        )
        for rule in rules
        if rule.expires >= today and is_broad(rule, known)
    ]


def coverage_warnings(inv: Inventory) -> list[ScanWarning]:
    """What the input does not show, said out loud: a clean result there is not evidence of a safeguard.

    PHI severities and the PHI-specific checks need a PHI namespace that the scanned objects are in; the
    network checks judge NetworkPolicy objects, the RBAC checks Roles and bindings, the namespace checks
    Namespace objects. Missing from the input is not the same as missing from the cluster, so say which.
    """
    out: list[ScanWarning] = []
    phi = inv.phi_namespaces
    if not phi:
        selector = ", ".join(f"{k}={v}" for k, v in inv.config.phi.selector.items()) or "none"
        out.append(ScanWarning(
            "no-phi-namespace",
            "no PHI namespace identified: none is listed under phi.namespaces and no Namespace object carries "
            f"the PHI labels ({selector}); PHI severities and PHI-specific checks did not apply",
        ))
    elif phi.isdisjoint(inv.namespace_names):
        out.append(ScanWarning(
            "no-phi-namespace",
            f"no scanned object is in a PHI namespace ({', '.join(sorted(phi))}): PHI severities and "
            "PHI-specific checks did not apply; check phi.namespaces against the namespaces scanned",
        ))
    if not inv.of_kind("NetworkPolicy"):
        out.append(ScanWarning(
            "no-network-policy",
            "the input has no NetworkPolicy: network isolation was judged as if none existed; if the cluster "
            "has policies, scan them too",
        ))
    if not any(inv.of_kind(kind) for kind in RBAC_KINDS):
        out.append(ScanWarning(
            "no-rbac",
            "the input has no RBAC objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding): who can read "
            "PHI was not assessed",
        ))
    if not inv.of_kind("Namespace"):
        out.append(ScanWarning(
            "no-namespaces",
            "the input has no Namespace objects: Pod Security admission labels and PHI namespace labels were "
            "not assessed",
        ))
    return out


class ContainerNames:
    """The container(s) a finding's evidence points at, by name, for exceptions that name a container.

    Findings identify a container only by its evidence path (`spec.template.spec.containers[1].image`);
    the name is read from the object the finding is about. The object index is built on first use, so
    scans whose exceptions name no container pay nothing.
    """

    def __init__(self, inv: Inventory) -> None:
        self._inv = inv
        self._objects: dict[ResourceRef, K8sObject] | None = None

    def __call__(self, finding: Finding) -> set[str]:
        if self._objects is None:
            self._objects = {self._inv.ref(obj): obj for obj in self._inv.objects}
        obj = self._objects.get(finding.resource)
        names: set[str] = set()
        if obj is None:
            return names
        for ev in finding.evidence:
            m = _CONTAINER_AT.match(ev.path)
            if m is None:
                continue
            node: Any = obj.doc
            for key in m.group(1).split(".")[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            items = node.get(m.group(2)) if isinstance(node, dict) else None
            index = int(m.group(3))
            item = items[index] if isinstance(items, list) and index < len(items) else None
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                names.add(name)
        return names


def exception_matches(
    rule: ExceptionRule, finding: Finding, containers: Callable[[Finding], set[str]] | None = None
) -> bool:
    """Does `rule` cover `finding`? A rule naming a container needs `containers` (names in the evidence)."""
    if not fnmatch.fnmatchcase(finding.check_id, rule.check):
        return False
    res, want = finding.resource, rule.resource
    pairs = ((want.kind, res.kind), (want.namespace, res.namespace or ""), (want.name, res.name))
    if not all(pattern is None or fnmatch.fnmatchcase(value, pattern) for pattern, value in pairs):
        return False
    if want.container is None:
        return True
    names = containers(finding) if containers is not None else set()
    # Every container the evidence is about must be the named one: a finding that spans two containers
    # is not waived by an exception for one of them; pod-level findings name no container and stay.
    return bool(names) and all(fnmatch.fnmatchcase(name, want.container) for name in names)


def apply_exceptions(
    findings: list[Finding], rules: Sequence[ExceptionRule], today: dt.date,
    containers: Callable[[Finding], set[str]] | None = None,
) -> tuple[list[ExceptionRule], list[ExceptionRule]]:
    """Mark findings covered by a live exception as suppressed; return (expired, unused) rules."""
    expired = [r for r in rules if r.expires < today]
    live = [r for r in rules if r.expires >= today]
    used: set[int] = set()
    for finding in findings:
        for idx, rule in enumerate(live):
            if exception_matches(rule, finding, containers):
                finding.suppressed = True
                finding.suppression = _suppression_record(rule)
                used.add(idx)
                break
    unused = [r for i, r in enumerate(live) if i not in used]
    return expired, unused


def _suppression_record(rule: ExceptionRule) -> dict[str, Any]:
    return {
        "check": rule.check,
        "owner": rule.owner,
        "justification": rule.justification,
        "expires": rule.expires.isoformat(),
    }
