"""NetworkPolicy engine: exact Kubernetes semantics, netpol-analyzer compatible connection lists.

Pure: object dicts (or K8sObjects) in, answers out. This module is the engine's front: callers outside the
package (checks, CLI, reports, the Inventory) import from here only. Typical use::

    topo = build_topology(objects)          # validates; invalid objects are left out, in topo.problems
    engine = Engine(topo)                   # for a scanned Inventory: `inv.netpol`
    result = engine.connlist()              # Connlist: sorted Connection(src, dst, conn) and the workload peers

Peers are typed (`WorkloadPeer`, `ExternalPeer`, `IngressControllerPeer`); `str(peer)` is netpol-analyzer's
printed name. Rendering (txt/json/csv/md/dot, exposure, can-reach, diff) is `kubehipaa.reports.netpol`.
"""

from __future__ import annotations

from kubehipaa.engines.netpol import conns
from kubehipaa.engines.netpol.analysis import Connection, Connlist, Engine, connlist
from kubehipaa.engines.netpol.connectivity_diff import DiffRow, diff
from kubehipaa.engines.netpol.conns import ALL_CONNECTIONS, NO_CONNECTIONS, ConnSet
from kubehipaa.engines.netpol.conns import intersect as intersect_conns
from kubehipaa.engines.netpol.conns import make as make_conns
from kubehipaa.engines.netpol.conns import to_str as conns_text
from kubehipaa.engines.netpol.conns import union as union_conns
from kubehipaa.engines.netpol.errors import NetpolError, Problem
from kubehipaa.engines.netpol.explain import Endpoint, RuleMatch, Side, Verdict, can_reach
from kubehipaa.engines.netpol.ipranges import MAX_IP
from kubehipaa.engines.netpol.namespace_exposure import Exposure, RuleExposure, exposure
from kubehipaa.engines.netpol.peers import (
    ANY_PEER,
    INGRESS_CONTROLLER,
    INGRESS_CONTROLLER_PEER,
    AnyPeer,
    ExternalPeer,
    IngressControllerPeer,
    IPBlockPeer,
    Peer,
    WorkloadPeer,
)
from kubehipaa.engines.netpol.selectors import Selector, SelectorError, parse_selector
from kubehipaa.engines.netpol.topology import PeerSpec, Policy, Topology, Workload, build_topology

__all__ = [
    "ALL_CONNECTIONS",
    "ANY_PEER",
    "INGRESS_CONTROLLER",
    "INGRESS_CONTROLLER_PEER",
    "MAX_IP",
    "NO_CONNECTIONS",
    "AnyPeer",
    "ConnSet",
    "Connection",
    "Connlist",
    "DiffRow",
    "Endpoint",
    "Engine",
    "Exposure",
    "ExternalPeer",
    "IPBlockPeer",
    "IngressControllerPeer",
    "NetpolError",
    "Peer",
    "PeerSpec",
    "Policy",
    "Problem",
    "RuleExposure",
    "RuleMatch",
    "Selector",
    "SelectorError",
    "Side",
    "Topology",
    "Verdict",
    "Workload",
    "WorkloadPeer",
    "build_topology",
    "can_reach",
    "connlist",
    "conns",
    "conns_text",
    "diff",
    "exposure",
    "intersect_conns",
    "make_conns",
    "parse_selector",
    "union_conns",
]
