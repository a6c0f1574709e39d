"""Load Kubernetes objects from files, directories, stdin and Kustomize directories.

YAML is read exactly as Kubernetes reads it (`k8s_yaml`, the exact loader; the rules and their source of
truth are in docs/yaml.md), by default through `fast_yaml` (rapidyaml + orjson, which hands every document
it cannot decide to `k8s_yaml`; `--exact-yaml` or KUBEHIPAA_EXACT_YAML=1 reads everything the exact way): `- =` is the string "=", `y`/`on` are true, `1e3` is 1000,
`12:30` and dates stay strings, `.inf` cannot be stored, non-string keys become strings. Every object
keeps its file and line, which every finding needs for evidence; a document Kubernetes would refuse is
one problem line (file:line) and the other documents and files are still read.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import yaml

from kubehipaa import collector, parallel
from kubehipaa.errors import InputError
from kubehipaa.model import K8sObject
from kubehipaa.sources import fast_yaml, k8s_yaml, limits, reading
from kubehipaa.sources.duplicates import deduplicate
from kubehipaa.sources.namespaces import DEFAULT_NAMESPACE, namespace_name_error, place

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CONFIG_FILES = (".kubehipaa.yaml", ".kubehipaa.yml")


# What an InputProblem means for the run (`level`):
LOST = "error"  # content that may hold objects could not be read: the answers do not cover it (exit 2)
SKIPPED = "warning"  # a document that is not a Kubernetes object: nothing to analyse is lost
DUPLICATE = "duplicate"  # an earlier definition of an object defined again later (the later one is analysed)
DUPLICATE_KEY = "duplicate-key"  # a key written twice in one mapping: a warning (the last value is analysed)
NOTE = "note"  # said once for the user's information (a Kustomize Component is not built on its own)
_LOST_PREFIXES = ("malformed", "not UTF-8")


@dataclass(frozen=True, slots=True)
class InputProblem:
    """A document that was skipped, with the reason; shown to the user as one line.

    `level` is LOST, SKIPPED, DUPLICATE, DUPLICATE_KEY or NOTE; left empty, it is derived from the message
    (malformed YAML/JSON and undecodable files are LOST), so parsers only have to say what went wrong.
    """

    file: str
    line: int | None
    message: str
    level: str = ""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"

    @property
    def severity(self) -> str:
        if self.level:
            return self.level
        return LOST if self.message.startswith(_LOST_PREFIXES) else SKIPPED

    @property
    def lost(self) -> bool:
        """True when input was lost or refused: results cannot be complete, so the run must exit 2."""
        return self.severity == LOST


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One input as read: its name (path, `<stdin>`), the SHA-256 of its bytes and their number. Evidence
    reports and saved scans list these, so a result can be tied to exactly the bytes it judged."""

    name: str
    sha256: str
    bytes: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "sha256": self.sha256, "bytes": self.bytes}


@dataclass(slots=True)
class LoadResult:
    objects: list[K8sObject] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    files: int = 0
    inputs: list[InputRecord] = field(default_factory=list)
    """Every file read whole (and stdin), with its SHA-256, in reading order."""
    namespace: str = DEFAULT_NAMESPACE
    """The namespace objects without one were placed in (`--namespace`, else `default`)."""
    namespace_given: bool = False
    """Whether `namespace` was given (`--namespace`) rather than the default."""
    namespace_assumed: int = 0
    """How many objects had no metadata.namespace and were placed in `namespace`."""
    duplicates: int = 0
    """How many objects were dropped because a later one has the same kind, namespace and name."""

    @property
    def lost(self) -> list[InputProblem]:
        """Problems that mean input was lost or refused (exit 2 after the results are shown)."""
        return [p for p in self.problems if p.lost]

    def extend(self, other: LoadResult) -> None:
        self.objects.extend(other.objects)
        self.problems.extend(other.problems)
        self.files += other.files
        self.inputs.extend(other.inputs)


def load_paths(
    paths: Sequence[str], *, strict: bool = False, jobs: int | None = None, namespace: str | None = None
) -> LoadResult:
    """Load every Kubernetes object under `paths` ("-" is stdin), as `kubectl apply [-n namespace]` would
    see them: each namespaced object in its namespace (`sources.namespaces`), each object once
    (`sources.duplicates`, the last definition wins).

    Skipped documents, duplicates and unreadable files are returned as `problems` (a file that cannot be
    read never stops the others); with `strict=True` the first problem that is not a note raises
    `InputError`. A path that does not exist always raises. With `jobs` > 1 (default: `_load_jobs`, i.e.
    `$KUBEHIPAA_LOAD_JOBS`, else `parallel.jobs()`), large inputs (`PARALLEL_MIN_FILES` files or more) are parsed
    by that many processes; the result is the same as with one, in the same order.
    """
    if namespace is not None and (why := namespace_name_error(namespace)):
        raise InputError(f"--namespace: {why}")
    units: list[_Unit] = []
    for raw in paths:
        if raw == "-":
            units.append(_Special("stdin", raw))
            continue
        try:
            kind = reading.explicit_kind(raw)
        except FileNotFoundError:
            units.append(_Special("refused", raw, "no such file or directory"))
            break  # raised when its turn comes, after the paths before it, as a serial walk would
        except reading.NotRegular as exc:
            units.append(_Special("refused", raw, exc.reason + reading.STREAM_HINT))
            break
        except OSError as exc:
            units.append(_Special("refused", raw, f"cannot read: {exc.strerror or exc}"))
            break
        if kind == "stream":
            units.append(_Special("stream", raw))
        else:
            units.extend(_walk(Path(raw)) if kind == "dir" else [Path(raw)])
    result = LoadResult()
    # Loading only allocates (dicts, lists, strings that all stay alive): no cyclic garbage to find, but
    # every full collection would walk everything loaded so far, a quarter of the load time at 85k objects.
    # On a large input what was loaded is then frozen, or the collections during the checks would walk
    # millions of live dicts again and again (`collector.paused`).
    with collector.paused() as pause:
        cap = limits.current().file_bytes  # once: the environment is read per call, not per file
        with fast_yaml.quiet_stderr():  # once for all files (see fast_yaml.quiet_stderr)
            for part in _load_units(units, _load_jobs() if jobs is None else jobs, cap):
                result.extend(part)
        _settle(result, namespace)  # still without the collector: its index allocates one tuple per object
        pause.freeze = len(result.objects) >= collector.FREEZE_MIN_OBJECTS
    serious = [p for p in result.problems if p.severity != NOTE]
    if strict and serious:
        first = serious[0]
        more = f" (and {len(serious) - 1} more)" if len(serious) > 1 else ""
        raise InputError(first.message + more, file=first.file, line=first.line)
    return result


def _settle(result: LoadResult, namespace: str | None) -> None:
    """Apply the two whole-input rules, after every file is read (a CRD may come after its objects)."""
    placement = place(result.objects, namespace)
    result.namespace = placement.namespace
    result.namespace_given = namespace is not None
    result.namespace_assumed = placement.assumed
    for obj, message in placement.mismatched:
        result.problems.append(InputProblem(obj.file, obj.line, message, LOST))
    kept, dropped = deduplicate(result.objects)
    if dropped:
        result.objects = kept
        result.duplicates = len(dropped)
        result.problems.extend(InputProblem(d.dropped.file, d.dropped.line, d.message, DUPLICATE) for d in dropped)


PARALLEL_MIN_FILES = 256
_BATCH = 32  # files per task handed to a worker process


def _load_jobs() -> int:
    """The processes loading may use: `$KUBEHIPAA_LOAD_JOBS` (a number or `auto`), else `parallel.jobs()`."""
    return parallel.jobs("KUBEHIPAA_LOAD_JOBS")


class _Special(NamedTuple):
    """A unit that is not a file found by a walk: stdin ("-"), a stream path the user named (`/dev/fd/63`),
    or a path that is refused when its turn comes (`reason`: missing, a FIFO, a device...)."""

    what: str
    raw: str
    reason: str = ""


_Unit = Path | _Special | reading.Refused


def _load_unit(unit: _Unit, cap: int) -> LoadResult:
    if isinstance(unit, Path):
        return _load_one(unit, cap)
    if isinstance(unit, reading.Refused):
        # found by a walk: a directory that cannot be listed (its files are lost) or a FIFO/device (skipped)
        return LoadResult(problems=[InputProblem(str(unit.path), None, unit.reason, LOST if unit.lost else SKIPPED)])
    if unit.what == "refused":
        raise InputError(unit.reason, file=unit.raw)
    name = "<stdin>" if unit.what == "stdin" else unit.raw
    try:
        if unit.what == "stdin":
            buffer = getattr(sys.stdin, "buffer", None)
            if buffer is None:  # a text stream standing in for stdin (tests)
                return load_text(reading.read_text_capped(sys.stdin, cap), name)
            data = reading.read_capped(buffer, cap)
        else:
            data = reading.read_path(unit.raw, cap)
    except reading.ReadRefused as exc:
        return LoadResult(problems=[InputProblem(name, None, f"{exc.reason}; skipped", LOST)], files=1)
    except OSError as exc:
        return LoadResult(problems=[InputProblem(name, None, f"cannot read: {exc.strerror or exc}; skipped", LOST)],
                          files=1)
    return _load_bytes(data, name, json_hint=False)


_Answer = tuple[Any, tuple[str, str | None, int | None] | None]
"""A worker's batch: its LoadResult (packed, `_pack`) and the InputError that ended it, if any."""


def _read_batch(batch: list[Path], cap: int) -> tuple[LoadResult, tuple[str, str | None, int | None] | None]:
    """Load a batch of files; an InputError is returned, to be raised in order."""
    out = LoadResult()
    try:
        with fast_yaml.quiet_stderr():
            for item in batch:
                out.extend(_load_one(item, cap))
    except InputError as exc:
        return out, (exc.message, exc.file, exc.line)
    return out, None


def _load_batch(batch: list[Path], cap: int) -> _Answer:
    """`_read_batch` in a worker process, its result packed for the way back (`_pack`)."""
    out, error = _read_batch(batch, cap)
    return _pack(out), error


def _pack(result: LoadResult) -> Any:
    """`result` as the worker sends it: the documents marshalled (`marshal` writes dicts, lists, strings and
    numbers several times faster than pickle, which goes through `__reduce_ex__` for every K8sObject: 1.7 s to
    pickle 90,040 objects), everything else pickled as it is. The result itself when an object carries more
    than its document and origin, or a value marshal does not write."""
    objects = result.objects
    if any(obj.extra or obj.namespace_assumed for obj in objects):
        return result
    try:
        blob = marshal.dumps([(obj.doc, obj.file, obj.line) for obj in objects])
    except ValueError:  # a type marshal does not write
        return result
    return (blob, LoadResult(problems=result.problems, files=result.files, inputs=result.inputs))


def _unpack(packed: Any) -> LoadResult:
    """The LoadResult a worker packed (`_pack`)."""
    if isinstance(packed, LoadResult):
        return packed
    blob, result = packed
    result.objects = [K8sObject(doc, file, line) for doc, file, line in marshal.loads(blob)]
    return result


def _load_units(units: list[_Unit], jobs: int, cap: int) -> Iterator[LoadResult]:
    """LoadResults of `units`, in order; with jobs > 1 and enough files, parsed by worker processes too.

    The calling process takes part: workers take batches from the front, this process loads those no
    worker has started from the back, so `jobs` processes parse in all and only the workers' share is
    pickled back.
    Worker processes are forked (cheap, and nothing is re-imported); where fork is unavailable, or a
    worker dies, the batch is loaded here.
    """
    files = sum(isinstance(u, Path) for u in units)
    if jobs < 2 or files < PARALLEL_MIN_FILES or not parallel.can_fork():
        for unit in units:
            yield _load_unit(unit, cap)
        return
    plan: list[list[Path] | _Special | reading.Refused] = []
    for unit in units:
        if isinstance(unit, Path):
            if plan and isinstance(plan[-1], list) and len(plan[-1]) < _BATCH:
                plan[-1].append(unit)
            else:
                plan.append([unit])
        else:
            plan.append(unit)
    pool = ProcessPoolExecutor(max_workers=jobs - 1, mp_context=multiprocessing.get_context("fork"))
    try:
        futures = [pool.submit(_load_batch, step, cap) if isinstance(step, list) else None for step in plan]
        # Workers take batches from the front; this process takes them from the back until they meet.
        mine: dict[int, tuple[LoadResult, tuple[str, str | None, int | None] | None]] = {}
        for i in range(len(plan) - 1, -1, -1):
            step, future = plan[i], futures[i]
            if future is None or not isinstance(step, list):
                continue
            if not future.cancel():
                break
            mine[i] = _read_batch(step, cap)
        for i, (step, future) in enumerate(zip(plan, futures, strict=True)):
            if future is None or not isinstance(step, list):
                yield _load_unit(step, cap)  # type: ignore[arg-type]
                continue
            if i in mine:
                part, error = mine.pop(i)
            else:
                try:
                    packed, error = future.result()
                    part = _unpack(packed)
                except BrokenProcessPool:
                    part, error = _read_batch(step, cap)
            yield part
            if error is not None:
                raise InputError(*error)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _walk(root: Path) -> Iterator[Path | reading.Refused]:
    """Manifest files under `root`, sorted; a Kustomize directory is yielded as the directory itself. A FIFO,
    socket or device named like a manifest, and a directory that cannot be listed, come as `Refused`."""
    if _is_kustomize_dir(root):
        yield root
        return
    yield from reading.walk(root, lambda name: name.endswith(MANIFEST_SUFFIXES), _is_kustomize_dir)


def _is_kustomize_dir(path: Path) -> bool:
    return any(reading.is_file(path / name) for name in KUSTOMIZATION_FILES)


def _load_one(path: Path, cap: int | None = None) -> LoadResult:
    """One file (or Kustomize directory); whatever goes wrong is a problem of this file, never of the run.
    `cap`: --max-file-bytes (default: `limits.current()`)."""
    if path.is_dir():
        return _load_kustomize(path)
    if path.name in CONFIG_FILES:
        return LoadResult()
    try:
        data = reading.read_file(path, limits.current().file_bytes if cap is None else cap)
    except reading.NotRegular as exc:  # it changed since the walk saw a regular file
        return LoadResult(problems=[InputProblem(str(path), None, f"{exc.reason}; skipped", SKIPPED)])
    except reading.ReadRefused as exc:
        return LoadResult(problems=[InputProblem(str(path), None, f"{exc.reason}; skipped", LOST)], files=1)
    except OSError as exc:
        return LoadResult(problems=[InputProblem(str(path), None, f"cannot read: {exc.strerror or exc}; skipped",
                                                 LOST)], files=1)
    return _load_bytes(data, str(path), json_hint=path.suffix == ".json")


def _load_bytes(data: bytes, name: str, *, json_hint: bool) -> LoadResult:
    """One file's bytes: UTF-8 text, then `load_text` (with the template hint for a Helm/Go template)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LoadResult(problems=[InputProblem(name, None, f"not UTF-8 text ({exc.reason}); skipped")], files=1,
                          inputs=[InputRecord(name, hashlib.sha256(data).hexdigest(), len(data))])
    result = load_text(text, name, json_hint=json_hint, data=data)
    result.files = 1
    result.inputs = [InputRecord(name, hashlib.sha256(data).hexdigest(), len(data))]
    if result.problems and "{{" in text:
        result.problems = [_template_hint(p) for p in result.problems]
    return result


TEMPLATE_HINT = ("; it looks like a template ({{ ... }}): render it first, e.g. "
                 "`helm template CHART | kubehipaa scan -`")


def _template_hint(problem: InputProblem) -> InputProblem:
    """Say why a Helm/Go template file does not parse: the fix is to render it, not to repair the YAML."""
    if not problem.lost:
        return problem
    return InputProblem(problem.file, problem.line, problem.message + TEMPLATE_HINT, problem.level)


ORIGIN_ANNOTATION = "config.kubernetes.io/origin"


def _load_kustomize(path: Path) -> LoadResult:
    """Render a Kustomize directory with `kubectl kustomize`, pointing each object back at its source file.

    Kustomize's output has no file or line, which would leave findings without evidence. So the directory
    is rendered through a throw-away overlay that sets `buildMetadata: [originAnnotations]`: every object
    then carries the file it came from, and we find its line there. The annotation is removed again so
    checks see exactly what `kubectl kustomize DIR` produces. If the overlay cannot be built (unusual
    layouts), the plain rendering is used and objects point at the kustomization directory.
    """
    if _kustomization_kind(path) == "Component":
        return LoadResult(problems=[InputProblem(
            str(path), None, "is a Kustomize Component (kind: Component): it is built only by an overlay that "
            "lists it under `components:`, not on its own; skipped (the overlays that use it are scanned)", NOTE,
        )], files=1)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return LoadResult(problems=[InputProblem(
            str(path), None, "is a Kustomize directory, but `kubectl` is not on PATH to render it "
            "(install kubectl, or render it yourself: kubectl kustomize DIR | kubehipaa scan -); skipped", LOST,
        )], files=1)
    rendered_name = f"{path}/kustomization (rendered)"
    with tempfile.TemporaryDirectory(prefix="kubehipaa-kustomize-") as tmp:
        overlay = Path(tmp)
        target = os.path.relpath(path.resolve(), overlay)
        (overlay / "kustomization.yaml").write_text(
            f"resources:\n- {json.dumps(target)}\nbuildMetadata: [originAnnotations]\n", encoding="utf-8"
        )
        proc = _kustomize(kubectl, overlay)
        if proc.returncode == 0:
            result = load_text(proc.stdout, rendered_name)
            _attach_origins(result, overlay, path)
            result.files = 1
            return result
    proc = _kustomize(kubectl, path)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return LoadResult(problems=[InputProblem(str(path), None, f"kubectl kustomize failed: {detail}; skipped",
                                                 LOST)], files=1)
    result = load_text(proc.stdout, rendered_name)
    result.files = 1
    return result


def _kustomization_kind(path: Path) -> str | None:
    """The `kind` of the directory's kustomization file (Kustomization or Component), None if unreadable."""
    for name in KUSTOMIZATION_FILES:
        candidate = path / name
        if reading.is_file(candidate):
            try:
                text = reading.read_file(candidate, limits.current().file_bytes).decode("utf-8")
                data, _ = k8s_yaml.load_single(text)
            except (OSError, UnicodeDecodeError, reading.ReadRefused, k8s_yaml.DocumentError):
                return None  # kubectl kustomize will say what is wrong with it
            kind = data.get("kind") if isinstance(data, dict) else None
            return kind if isinstance(kind, str) else None
    return None


def _kustomize(kubectl: str, path: Path) -> subprocess.CompletedProcess[str]:
    """`kubectl kustomize PATH`, its output read within the file cap (a generator can make it huge); stderr
    goes to a temporary file, so a chatty kubectl cannot block on a full pipe while we read stdout."""
    args = [kubectl, "kustomize", str(path)]
    cap = limits.current().file_bytes
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        try:
            out = reading.read_capped(proc.stdout, cap)
        except reading.TooLarge as exc:
            proc.kill()
            proc.wait()
            return subprocess.CompletedProcess(args, 1, "", f"its output is {exc.reason}")
        finally:
            proc.stdout.close()
        code = proc.wait()
        size = err.seek(0, os.SEEK_END)
        err.seek(max(0, size - 65536))  # the last lines say what failed
        stderr = err.read().decode("utf-8", errors="replace")
    return subprocess.CompletedProcess(args, code, out.decode("utf-8", errors="replace"), stderr)


def _attach_origins(result: LoadResult, overlay: Path, scanned: Path) -> None:
    """Replace the rendered file/line of each object by its origin file and the line of its document there."""
    cache: dict[Path, list[K8sObject]] = {}
    for i, obj in enumerate(result.objects):
        meta = obj.doc.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        if not isinstance(annotations, dict) or ORIGIN_ANNOTATION not in annotations:
            continue
        raw = annotations.pop(ORIGIN_ANNOTATION)
        if not annotations:
            del meta["annotations"]  # type: ignore[union-attr]
        try:
            origin, _ = k8s_yaml.load_single(str(raw))
        except k8s_yaml.DocumentError:
            continue
        if not isinstance(origin, dict):
            continue
        rel = origin.get("path") or origin.get("configuredIn")
        if not isinstance(rel, str) or origin.get("repo"):
            continue  # remote bases have no local file to point at
        source = (overlay / rel).resolve()
        # Name the file the way the user named the directory (relative stays relative).
        file = os.path.normpath(os.path.join(str(scanned), os.path.relpath(source, scanned.resolve())))
        line = 1
        if "path" in origin and reading.is_file(source):
            if source not in cache:
                cache[source] = _load_one(source).objects
            line = _line_in(cache[source], obj)
        result.objects[i] = K8sObject(obj.doc, file, line, extra=obj.extra)


def _line_in(candidates: list[K8sObject], obj: K8sObject) -> int:
    """The line of the source document `obj` was rendered from (same kind; name may carry prefix/suffix)."""
    same_kind = [c for c in candidates if c.kind == obj.kind]
    for c in same_kind:
        if c.name == obj.name:
            return c.line
    for c in same_kind:
        if c.name and c.name in obj.name:
            return c.line
    return same_kind[0].line if len(same_kind) == 1 else 1


def load_text(text: str, filename: str, *, json_hint: bool = False, data: bytes | None = None) -> LoadResult:
    """Parse one file's text (YAML stream or JSON) into objects, collecting skipped documents. `data`: the
    UTF-8 bytes `text` was decoded from, when the caller has them (the fast YAML path reads bytes)."""
    if json_hint or (text.lstrip()[:1] in ("{", "[") and filename.endswith(".json")):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            line = text.count("\n", 0, exc.pos) + 1 if exc.pos is not None else None
            if exc.msg.startswith("depth limit"):  # orjson stops at 1024 levels
                return LoadResult(problems=[InputProblem(filename, line, f"{k8s_yaml.TOO_DEEP}; skipped", LOST)])
            return LoadResult(problems=[InputProblem(filename, line, f"malformed JSON: {exc.msg}; skipped")])
        from kubehipaa.sources import json_keys  # JSON inputs only

        too_deep, duplicates = json_keys.inspect(text, data)
        if too_deep:
            return LoadResult(problems=[InputProblem(filename, 1, f"{k8s_yaml.TOO_DEEP}; skipped", LOST)])
        result = LoadResult(problems=[InputProblem(filename, line, message, DUPLICATE_KEY)
                                      for line, message in duplicates])
        lines = None
        if isinstance(data, dict) and isinstance(data.get("items"), list) and data["items"]:
            lines = _json_item_lines(text, len(data["items"]))
        _add_document(result, data, filename, 1, None, lines)
        return result
    return _load_yaml(text, filename, data)


# a JSON string, a structural character, or any other token (number, true, false, null)
_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s"{}\[\],:]+')


def _json_item_lines(text: str, count: int) -> list[int] | None:
    """1-based start lines of the `items` entries of a JSON List (`kubectl get -o json`), or None.

    A scan over the tokens of the text, not a parse: orjson has built the data already, and composing a
    YAML node tree of the whole List just for these lines cost seconds for 10,000 pods. None (the items
    then keep the List's line) when the count of entries found differs from what orjson read.
    """
    depth = 0
    key: Any = None  # the last key read in the top-level object
    after_colon = False  # the next top-level token is the value of `key`
    in_items = expect_item = False
    starts: list[int] = []
    for m in _JSON_TOKEN.finditer(text):
        tok = m.group()
        c = tok[0]
        if in_items and depth == 2:
            if c == "]":
                break
            if expect_item:
                starts.append(m.start())
                expect_item = False
            elif c == ",":
                expect_item = True
        elif depth == 1:
            if c == ":":
                after_colon = True
                continue
            if after_colon:
                after_colon = False
                if c == "[" and key == "items":
                    if starts:
                        return None  # a second `items` key: ambiguous
                    in_items = expect_item = True
            elif c == '"':
                try:
                    key = orjson.loads(tok)
                except orjson.JSONDecodeError:
                    return None
        if c == "{" or c == "[":
            depth += 1
        elif c == "}" or c == "]":
            depth -= 1
    if len(starts) != count:
        return None
    # lines counted as libyaml counts them: \r\n, \r, \n, NEL, LS and PS each end a line
    unusual = any(ch in text for ch in "\r\x85\u2028\u2029")
    lines: list[int] = []
    line, pos = 1, 0
    for start in starts:
        if unusual:
            line += len(_YAML_BREAK.findall(text, pos, start))
        else:
            line += text.count("\n", pos, start)
        pos = start
        lines.append(line)
    return lines


def _load_yaml(text: str, filename: str, data: bytes | None = None) -> LoadResult:
    """Every document of a YAML stream, read as Kubernetes reads it (`fast_yaml`, or `k8s_yaml` when the
    exact path is asked for): a document Kubernetes would refuse is one problem line and the next documents
    are still read; a syntax error ends the file."""
    result = LoadResult()
    if fast_yaml.exact_requested():
        docs = k8s_yaml.iter_documents(text)
    else:
        docs = fast_yaml.iter_documents(data if data is not None else text.encode("utf-8"), text)
    for doc in docs:
        if doc.error is not None:
            result.problems.append(InputProblem(filename, doc.line, doc.error, LOST if doc.unread else ""))
        else:
            for line, message in doc.warnings:  # duplicate keys: the last value is read, the earlier named
                result.problems.append(InputProblem(filename, line, message, DUPLICATE_KEY))
            _add_document(result, doc.data, filename, doc.line or 1, doc.node, doc.item_lines)
    return result


def _add_document(
    result: LoadResult, data: Any, filename: str, line: int, node: Any, item_lines: list[int] | None = None
) -> None:
    """Add one document (or each item of a List) to `result`; `item_lines` or `node` give item lines."""
    if data is None:
        return  # an empty document (e.g. a trailing `---`) carries nothing
    if not isinstance(data, dict):
        result.problems.append(
            InputProblem(filename, line, f"not a Kubernetes object (a {type(data).__name__}); skipped")
        )
        return
    kind = data.get("kind")
    if not kind or not isinstance(kind, str):
        result.problems.append(InputProblem(filename, line, "document has no 'kind'; skipped"))
        return
    if not data.get("apiVersion"):
        result.problems.append(
            InputProblem(filename, line, f"not a Kubernetes object ({kind} without 'apiVersion'); skipped")
        )
        return
    if kind.endswith("List") and isinstance(data.get("items"), list):
        if item_lines is None:
            item_lines = _item_lines(node, len(data["items"]))
        # A typed list (`PodList`) may omit its items' kind: kubectl takes it from the list's kind.
        item_kind = kind[: -len("List")] if kind != "List" else ""
        for i, item in enumerate(data["items"]):
            item_line = item_lines[i] if item_lines else line
            if isinstance(item, dict):
                if item_kind and not item.get("kind"):
                    item = dict(item)
                    item["kind"] = item_kind
                if item.get("kind") and not item.get("apiVersion"):
                    item = dict(item)  # kubectl omits nothing, but hand-written Lists sometimes do
                    item["apiVersion"] = _infer_item_api_version(kind, data)
            _add_document(result, item, filename, item_line, None)
        return
    result.objects.append(K8sObject(data, filename, line))


def _item_lines(node: Any, count: int) -> list[int]:
    """1-based start lines of the `items` entries of a List document node, or [] if unknown."""
    if node is None or not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
            lines = [child.start_mark.line + 1 for child in value.value]
            return lines if len(lines) == count else []
    return []


def _infer_item_api_version(list_kind: str, data: dict[str, Any]) -> str:
    """Typed lists (`PodList`) omit item apiVersion; the list's own apiVersion is the item's."""
    if list_kind != "List":
        return str(data.get("apiVersion") or "v1")
    return "v1"
