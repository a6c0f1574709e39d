"""Restricted volume types: only ephemeral/projected/claim-style sources (overrides hostPathVolumes)."""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.pss.api import Level
from kubehipaa.engines.pss.base import Check, Containers, VersionedCheck
from kubehipaa.engines.pss.helpers import join_quote, pluralize

Result = tuple[str, str] | None

# `image` was added upstream inside the 1.0 revision (not a new version), so it is allowed at every version.
ALLOWED_SOURCES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
_ALLOWED = frozenset(ALLOWED_SOURCES)
# Restricted sources in upstream's reporting order: the first one present names the type.
RESTRICTED_SOURCES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def _restricted_type(volume: dict[str, Any]) -> str | None:
    """The restricted type of a volume, or None when it is allowed.

    A volume naming no source at all is defaulted to emptyDir by the API server before admission, so
    it is allowed; a source we do not know is reported as "unknown", as upstream does.
    """
    for key, value in volume.items():
        if key in _ALLOWED and value is not None:
            return None
    for key in RESTRICTED_SOURCES:
        if volume.get(key) is not None:
            return key
    for key, value in volume.items():
        if key != "name" and value is not None:
            return "unknown"
    return None


def restricted_volumes_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    volumes = spec.get("volumes")
    if not volumes:
        return None
    bad = []
    types: set[str] = set()
    for v in volumes:
        for key, value in v.items():
            if key in _ALLOWED and value is not None:
                break
        else:
            t = _restricted_type(v)
            if t is not None:
                bad.append(v.get("name", ""))
                types.add(t)
    if bad:
        n = len(bad)
        return "restricted volume types", (
            f"{pluralize('volume', 'volumes', n)} {join_quote(bad)} {pluralize('uses', 'use', n)} "
            f"{pluralize('restricted volume type', 'restricted volume types', len(types))} "
            f"{join_quote(sorted(types))}"
        )
    return None


CHECKS = (
    Check(
        "restrictedVolumes",
        Level.RESTRICTED,
        (VersionedCheck(0, restricted_volumes_1_0, overrides=("hostPathVolumes",)),),
        "volumes limited to configMap, csi, downwardAPI, emptyDir, ephemeral, image, PVC, projected, secret",
    ),
)
