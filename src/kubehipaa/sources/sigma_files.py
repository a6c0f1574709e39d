"""Finding and reading Sigma rule files within bounds (`--sigma FILE|DIR`), for the Sigma engine.

The engine (`kubehipaa.engines.auditlog`'s `SigmaRuleSet.from_texts`) reads no file: `read_rules` gives it
each rule file's text with the name it is reported under, and the entries that were not read.

The same rules as every other reader (`sources.reading`): only regular files are read, each within
`--max-file-bytes`; a FIFO, socket or device in a rules directory is skipped with one line; a directory that
cannot be listed, or a non-regular path given explicitly, is an input error (exit 2): running without the
rules that were asked for would look like "no Sigma alert". Names starting with "." are not searched (a
rules repository's `.github/workflows/*.yml` are not rules).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def read_rules(paths: Sequence[str | Path]) -> tuple[Iterator[tuple[str, str]], list[tuple[str, str]]]:
    """(file name, text) of every rule file under `paths`, read one at a time as the consumer asks (so the
    first unreadable or invalid file is the one reported, in path order, and only one text is held at a
    time before it is parsed), and the (file name, reason) of entries skipped as not regular files."""
    files, skipped = rule_files(paths)
    texts = ((str(path), read_rule(path)) for path in files)
    return texts, [(str(path), why) for path, why in skipped]
