"""Finding and reading Sigma rule files within bounds (`--sigma FILE|DIR`), for `engines.sigma`.

The same rules as every other reader (`sources.reading`): only regular files are read, each within
`--max-file-bytes`; a FIFO, socket or device in a rules directory is skipped with one line; a directory that
cannot be listed, or a non-regular path given explicitly, is an input error (exit 2): running without the
rules that were asked for would look like "no Sigma alert". Names starting with "." are not searched (a
rules repository's `.github/workflows/*.yml` are not rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kubehipaa.errors import InputError
from kubehipaa.sources import limits, reading

RULE_SUFFIXES = (".yml", ".yaml")


def rule_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The rule files under `paths` (directories recursively, each directory's files sorted by path), and
    the (path, reason) of entries skipped because they are not regular files."""
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for p in paths:
        path = Path(p)
        try:
            kind = reading.explicit_kind(str(path))
        except FileNotFoundError:
            raise InputError("Sigma rule path not found", file=str(path)) from None
        except reading.NotRegular as exc:
            raise InputError(f"cannot read Sigma rule: {exc.reason}", file=str(path)) from None
        except OSError as exc:
            raise InputError(f"cannot read Sigma rule: {exc.strerror or exc}", file=str(path)) from None
        if kind != "dir":
            files.append(path)
            continue
        found: list[Path] = []
        for item in reading.walk(path, lambda name: name.endswith(RULE_SUFFIXES)):
            if isinstance(item, reading.Refused):
                if item.lost:
                    raise InputError(item.reason.split(";")[0], file=str(item.path))
                skipped.append((item.path, item.reason.split(";")[0]))
            else:
                found.append(item)
        files.extend(sorted(found))
    return files, skipped


def read_rule(path: Path) -> str:
    """A rule file's text; InputError naming the file when it cannot be read within the cap."""
    try:
        return reading.read_path(str(path), limits.current().file_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("cannot read Sigma rule: not UTF-8 text", file=str(path)) from None
    except reading.ReadRefused as exc:
        raise InputError(f"cannot read Sigma rule: {exc.reason}", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read Sigma rule: {exc.strerror or exc}", file=str(path)) from None
