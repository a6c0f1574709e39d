"""Which `.kubehipaa.yaml` a command uses, and which ones it found and did not use.

Why not simply the one in a scanned directory: a config can suppress every finding (exceptions), so a
config that arrives with the input (a pull request scanned in CI, a downloaded bundle) would let the input
decide its own verdict. The config therefore comes from whoever runs the tool: `--config FILE`, else the
current directory. A config in a scanned directory (or beside a scanned file) elsewhere is used only with
`--trust-config`; otherwise it is named in a warning, so nobody wonders why the exceptions written there
did not apply, and a reviewer sees that the input carried one.

Only the places the tool ever looked are examined (the scanned directory itself, the directory of a
scanned file): configs deeper in a scanned tree were never read and are not now.

No pydantic here: commands whose engines do without a config (`audit analyze`) decide from this answer
whether to import kubehipaa.config at all (start-up time).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CONFIG_NAMES = (".kubehipaa.yaml", ".kubehipaa.yml")
TRUST_OPTION = "--trust-config"
IGNORED_CODE = "ignored-config"
"""The stable code of the warning about a config that was found and not used (JSON/SARIF reports)."""

OPTION = "option"
CWD = "cwd"
SCANNED = "scanned"


@dataclass(frozen=True, slots=True)
class IgnoredConfig:
    """A config that was found and not used, and why."""

    file: Path
    folder: str
    """Where it was found, as the user named it (or "the current directory")."""
    reason: str

    @property
    def message(self) -> str:
        return f"ignored {self.file.name} in {self.folder} ({self.reason})"


@dataclass(frozen=True, slots=True)
class ConfigLocation:
    path: Path | None
    """The config to read; None means the defaults."""
    origin: str = ""
    """OPTION (`--config`), CWD, SCANNED (beside a scanned path, with `--trust-config`), or "" (defaults)."""
    ignored: tuple[IgnoredConfig, ...] = ()

    @property
    def messages(self) -> list[str]:
        """One warning line per config found and not used."""
        return [i.message for i in self.ignored]


def config_in(folder: Path) -> Path | None:
    """The `.kubehipaa.yaml` (or `.yml`) directly in `folder`, if there is one."""
    for name in CONFIG_NAMES:
        candidate = folder / name
        if _is_config(candidate):
            return candidate
    return None


def configs_beside(scan_paths: Sequence[str]) -> list[tuple[str, Path]]:
    """(folder as named, config) for each scanned directory or scanned file's directory holding a config, in
    argument order, each file once ('-', stdin, has no directory)."""
    out: list[tuple[str, Path]] = []
    seen: set[object] = set()
    for raw in scan_paths:
        if raw == "-":
            continue
        path = Path(raw)
        folder = path if _is_dir(path) else path.parent
        found = config_in(folder)
        if found is None:
            continue
        key = _identity(found)
        if key not in seen:
            seen.add(key)
            out.append((str(folder), found))
    return out


def locate_config(explicit: str | None, scan_paths: Sequence[str] = (), *, trust: bool = False,
                  cwd: Path | None = None) -> ConfigLocation:
    """The config a command uses: `explicit` (`--config`), else with `trust` the first one beside a scanned
    path, else the current directory's; every other one found beside a scanned path is listed as ignored."""
    found = configs_beside(scan_paths)
    if explicit is not None:
        chosen = Path(explicit)
        chosen_id = _identity(chosen)
        return ConfigLocation(chosen, OPTION, tuple(
            IgnoredConfig(f, folder, f"--config {explicit} is used instead")
            for folder, f in found if _identity(f) != chosen_id
        ))
    here = config_in(cwd if cwd is not None else Path())
    here_id = _identity(here) if here is not None else None
    # A config beside a scanned path that IS the current directory's config is the current directory's.
    outside = [(folder, f) for folder, f in found if _identity(f) != here_id]
    if trust and outside:
        chosen = outside[0][1]
        ignored = [IgnoredConfig(f, folder, f"only one config is used: {chosen}") for folder, f in outside[1:]]
        if here is not None:
            ignored.insert(0, IgnoredConfig(here, "the current directory", f"{TRUST_OPTION} uses {chosen}"))
        return ConfigLocation(chosen, SCANNED, tuple(ignored))
    ignored = [IgnoredConfig(f, folder, f"pass {TRUST_OPTION} to use it") for folder, f in outside]
    if here is not None:
        return ConfigLocation(here, CWD, tuple(ignored))
    return ConfigLocation(None, "", tuple(ignored))


def _is_config(path: Path) -> bool:
    """A regular file (through symlinks) at `path`. A path that exists but cannot be examined (a symlink
    loop) counts, so that reading it reports why; a directory we may not search hides nothing we could use
    (the manifest loader names unreadable input)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return False
    except OSError:
        return True


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _identity(path: Path) -> object:
    """The same file however it is reached (relative, absolute, through a symlink)."""
    try:
        st = path.stat()
    except OSError:
        return os.path.abspath(path)
    return (st.st_dev, st.st_ino)
