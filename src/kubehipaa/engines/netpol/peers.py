"""Typed peers: what the engine's answers name, one small frozen dataclass per kind of peer.

Why typed: the answers used to carry printed names (`ns/name[Kind]`, `a-b[External]`) and every caller
parsed them back (`removesuffix("[External]")`, splitting at `/`) to learn a namespace or an address range,
each with its own idea of the format. Now the engine hands out the facts and `str()` gives the printed name,
exactly netpol-analyzer's text (the conformance goldens compare it byte for byte).

Connection peers (`Peer`):

- `WorkloadPeer`: a workload, an owner of pods, or a bare pod (`ns/name[Kind]`);
- `ExternalPeer`: a range of IPv4 addresses outside the cluster (`a.b.c.d-e.f.g.h[External]`). It is one of
  the engine's atoms (the address space cut at every ipBlock boundary), so it need not be a CIDR;
- `IngressControllerPeer`: the traffic an Ingress or Route sends (`{ingress-controller}`).

Rule peers (what a policy rule's `from`/`to` names, in `exposure` answers): `IPBlockPeer` (cidr, except, as
written), a selector peer (`topology.PeerSpec`) and `AnyPeer` (a rule without peers).

Every peer has `namespace` (None outside the cluster) and `text`, its printed name, computed once: the
connection list is sorted by it and rendered from it, so it must not be rebuilt per line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kubehipaa.engines.netpol.ipranges import Interval, atom_name, prefix_length

INGRESS_CONTROLLER = "{ingress-controller}"


@dataclass(frozen=True, slots=True)
class WorkloadPeer:
    """A workload peer: a Deployment, StatefulSet, ... (whatever its replica count), the controller owner of a
    pod, or a bare Pod."""

    namespace: str
    kind: str
    name: str
    text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", f"{self.namespace}/{self.name}[{self.kind}]")

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class ExternalPeer:
    """Addresses `first`..`last` (IPv4, as integers) outside the cluster, one of the engine's atoms."""

    first: int
    last: int
    text: str = field(init=False, repr=False, compare=False)
    namespace: ClassVar[None] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", atom_name((self.first, self.last)))

    @property
    def interval(self) -> Interval:
        return self.first, self.last

    def within(self, first: int, last: int) -> bool:
        """Whether every address of this peer lies in `first`..`last`."""
        return first <= self.first and self.last <= last

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class IngressControllerPeer:
    """The ingress controller: a label-less pod outside every namespace of the input, which Ingresses and
    Routes send through (netpol-analyzer's model)."""

    namespace: ClassVar[None] = None
    text: ClassVar[str] = INGRESS_CONTROLLER

    def __str__(self) -> str:
        return INGRESS_CONTROLLER


INGRESS_CONTROLLER_PEER = IngressControllerPeer()

Peer = WorkloadPeer | ExternalPeer | IngressControllerPeer
"""A source or destination of an allowed connection."""


@dataclass(frozen=True, slots=True)
class IPBlockPeer:
    """An ipBlock rule peer as the policy writes it: `cidr` minus each of `excepts` (IPv4 or IPv6)."""

    cidr: str
    excepts: tuple[str, ...] = ()

    @property
    def prefix_length(self) -> int:
        """The cidr's prefix length: 0 for a whole address family (`0.0.0.0/0`, `::/0`)."""
        return prefix_length(self.cidr)

    def __str__(self) -> str:
        return f"ipBlock {self.cidr}" + (f" except {', '.join(self.excepts)}" if self.excepts else "")


@dataclass(frozen=True, slots=True)
class AnyPeer:
    """What a rule without `from`/`to` admits: every pod of every namespace and every address."""

    def __str__(self) -> str:
        return "any peer (every namespace and address)"


ANY_PEER = AnyPeer()
