"""NetworkPolicy engine: exact Kubernetes semantics, netpol-analyzer compatible connection lists.

Pure: object dicts (or K8sObjects) in, answers out. Typical use::

    topo = build_topology(objects)          # validates; invalid objects are left out, in topo.problems
    engine = Engine(topo)
    rows = engine.connections()             # sorted Connection(src, dst, conn)
    text = formats.render(rows, "txt")      # `src => dst : conns`
"""

from __future__ import annotations

from kubehipaa.engines.netpol import conns, formats
from kubehipaa.engines.netpol.analysis import Connection, Engine, connlist
from kubehipaa.engines.netpol.diff import DiffRow, diff, diff_text
from kubehipaa.engines.netpol.errors import NetpolError, Problem
from kubehipaa.engines.netpol.explain import Verdict, can_reach, verdict_text
from kubehipaa.engines.netpol.exposure import Exposure, exposure, exposure_text
from kubehipaa.engines.netpol.topology import Policy, Topology, Workload, build_topology

__all__ = [
    "Connection",
    "DiffRow",
    "Engine",
    "Exposure",
    "NetpolError",
    "Policy",
    "Problem",
    "Topology",
    "Verdict",
    "Workload",
    "build_topology",
    "can_reach",
    "connlist",
    "conns",
    "diff",
    "diff_text",
    "exposure",
    "exposure_text",
    "formats",
    "verdict_text",
]
