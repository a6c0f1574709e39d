"""The control-plane components by the name of their binary: what the flag parser looks for inside a wrapper
script and what the classifier recognises. One list, so the two can never disagree."""

from __future__ import annotations

APISERVER = "kube-apiserver"
ETCD = "etcd"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
COMPONENTS = frozenset({APISERVER, CONTROLLER_MANAGER, SCHEDULER, ETCD})
