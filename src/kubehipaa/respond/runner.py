"""Send a respond action's requests under the rules every action shares.

* Namespace fence: a request may only touch the namespace the responder named (`-n`); cluster-scoped
  paths only for the plurals the action declares (nodes for cordon, clusterrolebindings for revoke). A plan
  that steps outside is refused before anything is sent (`OutsideNamespace`).
* `--dry-run`: nothing is sent and nothing is recorded; each request is kept in `planned` exactly as it
  would go on the wire, for the report to print.
* Every request actually sent is appended, with the API's answer, to the evidence folder's action log
  (hash-chained), before the next one is sent; an action that finds nothing to do records one line with no
  request and a note saying why (an idempotent re-run leaves a trace, not a second change).
* A failed request (4xx/5xx) stops the action: it is recorded, and `ActionFailed` carries the API's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubehipaa.errors import KubehipaaError
from kubehipaa.reports.respond_plan import ActionOutcome
from kubehipaa.respond.actions import ActionLog
from kubehipaa.respond.api import ApiAnswer, ApiRequest, ResponderClient


class OutsideNamespace(KubehipaaError):
    """A planned request would act outside the namespace the responder named."""


class ActionFailed(KubehipaaError):
    """The API server refused a request; the action stopped there (what was sent before is recorded)."""

    def __init__(self, request: ApiRequest, answer: ApiAnswer) -> None:
        self.request = request
        self.answer = answer
        what = f"{answer.code} {answer.reason}: {answer.message}" if answer.reason else f"HTTP {answer.code}"
        super().__init__(f"{request.method} {request.path} failed: {what}")


def path_namespace(path: str) -> tuple[str | None, str]:
    """(namespace, plural) a resource path addresses: `/api/v1/namespaces/ns/pods/x` → ("ns", "pods");
    a Namespace object itself (`/api/v1/namespaces/ns`) → (None, "namespaces")."""
    parts = path.split("?")[0].strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        return rest[1], rest[2]
    return None, rest[0] if rest else ""


@dataclass
class ActionRunner:
    """One action (quarantine, revoke, ...) against one target; see the module docstring for the rules."""

    client: ResponderClient
    log: ActionLog
    action: str
    target: str
    namespace: str | None
    dry_run: bool = False
    cluster_scoped: frozenset[str] = frozenset()
    """Plurals this action may touch outside any namespace (e.g. {"nodes"})."""
    planned: list[ApiRequest] = field(default_factory=list)
    results: list[tuple[ApiRequest, ApiAnswer]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def check(self, request: ApiRequest) -> None:
        """Refuse a request outside the fence."""
        ns, plural = path_namespace(request.path)
        if ns is None:
            if plural not in self.cluster_scoped:
                raise OutsideNamespace(f"refusing {request.method} {request.path}: {self.action} may only act "
                                       f"inside namespace {self.namespace!r}")
        elif ns != self.namespace:
            raise OutsideNamespace(f"refusing {request.method} {request.path}: outside namespace "
                                   f"{self.namespace!r} (given with -n)")

    def send(self, request: ApiRequest, *, ok_codes: tuple[int, ...] = (),
             extra: dict[str, Any] | None = None) -> ApiAnswer | None:
        """Send (or under --dry-run only plan) one write; record it (with `extra`: what reversing it needs,
        e.g. the previous replicas); raise ActionFailed on an error answer unless its code is in `ok_codes`
        (e.g. 404 for a delete that someone else already did)."""
        self.check(request)
        self.planned.append(request)
        if self.dry_run:
            return None
        answer = self.client.call(request)
        self.results.append((request, answer))
        self.records.append(self.log.append(action=self.action, target=self.target, namespace=self.namespace,
                                            identity=self.client.identity, request=request, answer=answer,
                                            note=request.why, extra=extra))
        if not answer.ok and answer.code not in ok_codes:
            raise ActionFailed(request, answer)
        return answer

    def outcome(self, summary: list[str] | None = None) -> ActionOutcome:
        """The action as the report renders it: each planned request with its answer once sent."""
        answers = {id(req): ans for req, ans in self.results}
        requests = []
        for request in self.planned:
            record = request.as_record() | {"why": request.why}
            if id(request) in answers:
                record["answer"] = answers[id(request)].summary()
            requests.append(record)
        return ActionOutcome(self.action, self.target, self.namespace, self.dry_run, requests, self.records,
                             summary or [], str(self.log.path))

    def nothing_to_do(self, why: str, extra: dict[str, Any] | None = None) -> None:
        """Record that the action found its effect already in place (not under --dry-run)."""
        if self.dry_run:
            return
        self.records.append(self.log.append(action=self.action, target=self.target, namespace=self.namespace,
                                            identity=self.client.identity, request=None, answer=None,
                                            note=why, extra=extra))

    def note(self, why: str, extra: dict[str, Any] | None = None) -> None:
        """Record a fact the action established without a write (e.g. what it verified), not under --dry-run."""
        self.nothing_to_do(why, extra)
