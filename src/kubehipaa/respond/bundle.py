"""An evidence bundle on disk: files written once and read-only, and the `MANIFEST.sha256` that seals them.

Why this shape: a bundle is handed to auditors, lawyers and forensic staff who will check it with the tools
they already trust, so the manifest is exactly what `sha256sum -c MANIFEST.sha256` reads (`<hex>  <path>`,
paths relative to the bundle folder, sorted). Each file is created with O_EXCL and mode 0444, so collecting
evidence never replaces evidence already collected, and once the manifest is written the folder itself is
made read-only (0555): a later file dropped into it is visible as "added" when the bundle is verified.

`verify_bundle` recomputes every hash and names each file that changed, disappeared or appeared.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "MANIFEST.sha256"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(text: str) -> str:
    """A path segment from an object or container name: only [A-Za-z0-9._-] (Kubernetes names already are;
    anything else, including `..`, is replaced so a crafted name cannot leave the bundle folder)."""
    name = _UNSAFE.sub("_", text) or "_"
    return "_" + name if name.startswith(".") else name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BundleWriter:
    """Writes the files of one bundle folder; `seal()` writes the manifest and makes the folder read-only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[str] = []

    def write(self, relpath: str, data: bytes | str) -> Path:
        """Create `relpath` (never replacing a file) with mode 0444 and fsync it."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        path = self.folder / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(path, 0o444)  # the umask may have taken bits away, never added: state the mode exactly
        self.files.append(relpath)
        return path

    def seal(self) -> str:
        """Write MANIFEST.sha256 over every file written; return the manifest's own SHA-256 (which the
        action log records, so a manifest recomputed after tampering does not match the record)."""
        lines = "".join(f"{sha256_file(self.folder / rel)}  {rel}\n" for rel in sorted(self.files))
        self.write(MANIFEST, lines)
        self.files.remove(MANIFEST)
        for sub in sorted({p for rel in self.files for p in Path(rel).parents if str(p) != "."}, reverse=True):
            os.chmod(self.folder / sub, 0o555)
        os.chmod(self.folder, 0o555)
        return sha256_file(self.folder / MANIFEST)


def new_bundle_folder(parent: Path, stamp: str) -> Path:
    """`parent/<stamp>` created exclusively (`-2`, `-3`... when a collection in the same second exists):
    a second collection for the same pod is kept next to the first, never over it."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"{parent}: too many collections named {stamp}")


@dataclass(slots=True)
class BundleCheck:
    """The result of recomputing a bundle's manifest."""

    folder: Path
    files: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """The manifest itself: absent, unreadable lines, paths that leave the folder."""
    manifest_sha256: str = ""

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.added or self.problems)


def _walk(folder: Path) -> Iterable[str]:
    for root, _dirs, names in os.walk(folder):
        for name in names:
            yield (Path(root) / name).relative_to(folder).as_posix()


def verify_bundle(folder: Path) -> BundleCheck:
    """Recompute every hash in `folder/MANIFEST.sha256`; name each changed, missing and added file."""
    check = BundleCheck(folder)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        check.problems.append(f"{MANIFEST} is missing: nothing in this bundle can be verified")
        return check
    check.manifest_sha256 = sha256_file(manifest)
    listed: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        m = _LINE.match(line)
        if m is None:
            check.problems.append(f"{MANIFEST}:{number}: not a sha256sum line")
            continue
        rel = m.group(2)
        if rel.startswith("/") or ".." in Path(rel).parts:
            check.problems.append(f"{MANIFEST}:{number}: path {rel!r} leaves the bundle folder")
            continue
        listed[rel] = m.group(1)
    check.files = len(listed)
    for rel, expected in sorted(listed.items()):
        path = folder / rel
        if not path.is_file():
            check.missing.append(rel)
        elif sha256_file(path) != expected:
            check.changed.append(rel)
    check.added = sorted(rel for rel in _walk(folder) if rel != MANIFEST and rel not in listed)
    return check
