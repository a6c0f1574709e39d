"""Image provenance (KH-IMG-NNN): is the code that touches ePHI the code that was reviewed?

A mutable tag (`latest`, or no tag, which means `latest`) lets the image under a running workload change
without any manifest change: no review, no audit trail, and possibly malicious code next to patient data
(164.308(a)(5)(ii)(B), protection from malicious software; 164.312(c)(1), integrity). A digest pins the
exact bytes that were scanned and approved.

Image references are parsed by the OCI/Docker grammar (`[registry[:port]/]repo[:tag][@digest]`), so a
registry port (`registry:5000/app`) is not mistaken for a tag; the Inventory parses them once (`inv.images`).
"""

from __future__ import annotations

from collections.abc import Iterator

from kubehipaa.checks.registry import Hit, check
from kubehipaa.inventory import Inventory
from kubehipaa.model import Severity

AREA = "images"
PROVENANCE = ("164.308(a)(5)(ii)(B)", "164.312(c)(1)")


@check(
    id="KH-IMG-001",
    title="Image uses the mutable tag 'latest'",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=PROVENANCE,
    relation="supports",
    nsa=("Image security: use immutable, scanned images",),
    remediation="Reference a versioned tag, better an immutable digest (image@sha256:...), built and scanned "
    "by your pipeline.",
    description="'latest' changes under a running workload without a manifest change, so what runs next to "
    "ePHI is not what was reviewed, and a rollback cannot restore the previous code.",
)
def latest_tag(inv: Inventory) -> Iterator[Hit]:
    for owner, path, name, image, ref in inv.images:
        if ref.tag == "latest" and ref.digest is None:
            yield Hit(owner, f"container {name} uses {image}", path=path, value=image)


@check(
    id="KH-IMG-002",
    title="Image without a tag or digest",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=PROVENANCE,
    relation="supports",
    nsa=("Image security: use immutable, scanned images",),
    remediation="Add an explicit version tag and preferably a digest (image:1.2.3@sha256:...).",
    description="An image without tag or digest resolves to 'latest' at pull time, with the same drift "
    "and audit problems.",
)
def untagged(inv: Inventory) -> Iterator[Hit]:
    for owner, path, name, image, ref in inv.images:
        if ref.tag is None and ref.digest is None:
            yield Hit(owner, f"container {name} image {image} has no tag", path=path, value=image)


@check(
    id="KH-IMG-003",
    title="Image not pinned by digest",
    area=AREA,
    severity=Severity.LOW,
    phi_severity=Severity.HIGH,
    hipaa=(*PROVENANCE, "164.312(c)(2)"),
    relation="supports",
    cis=("5.5.1",),
    nsa=("Image security: verify image integrity",),
    remediation="Pin the image by digest (image:1.2.3@sha256:<digest>); let your CD tool resolve tags to "
    "digests at release time.",
    description="Tags are mutable even when versioned: a registry compromise or a re-push changes the bytes. "
    "Workloads in PHI namespaces must run exactly the image that was scanned and approved (high there, "
    "low elsewhere).",
)
def no_digest(inv: Inventory) -> Iterator[Hit]:
    for owner, path, name, image, ref in inv.images:
        if ref.digest is None:
            yield Hit(owner, f"container {name} image {image} is not pinned by digest",
                      path=path, value=image)
