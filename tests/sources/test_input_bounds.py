"""Every input is bounded (issue 12, req. 5), at the source layer: only regular files are read, never past a
cap, and a directory that cannot be listed is lost input, never silence.

Cases that hang or exhaust memory on a reader without these bounds (a FIFO opened for reading waits for a
writer forever; `/dev/zero` never ends) run in a child process with a timeout and an address-space limit,
so a regression fails the test instead of the test run.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubehipaa.errors import InputError
from kubehipaa.sources import files, limits, reading
from kubehipaa.sources.files import SKIPPED, load_paths
from kubehipaa.sources.limits import Limits, parse_size

SRC = Path(__file__).resolve().parents[2] / "src"
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: c, image: nginx}]\n"


def _child(code: str, *, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with the project's sources, 1 GiB of address space, a timeout."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit, env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})})


@pytest.fixture(autouse=True)
def _no_configured_caps() -> Iterator[None]:
    limits.configure(None)
    yield
    limits.configure(None)


# ---- non-regular files ----------------------------------------------------------------------------------


def test_a_fifo_in_a_directory_is_skipped_with_one_line_and_never_opened(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(POD)
    os.mkfifo(tmp_path / "pipe.yaml")  # nobody ever writes to it: opening it for reading would block
    code = f"""
import json
from kubehipaa.sources.files import load_paths
r = load_paths([{str(tmp_path)!r}])
print(json.dumps({{"objects": [o.name for o in r.objects],
                  "problems": [[p.file, p.message, p.severity] for p in r.problems]}}))
"""
    try:
        proc = _child(code, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("loading a directory with a FIFO in it hung")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["objects"] == ["p"]
    [(file, message, severity)] = out["problems"]
    assert file == str(tmp_path / "pipe.yaml") and "FIFO" in message and severity == SKIPPED


def test_an_explicit_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    code = f"""
from kubehipaa.errors import InputError
from kubehipaa.sources.files import load_paths
try:
    load_paths([{str(tmp_path / 'pipe.yaml')!r}])
except InputError as exc:
    print(exc)
"""
    try:
        proc = _child(code, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("loading an explicit FIFO hung")
    assert "pipe.yaml: is a FIFO (named pipe), not a regular file" in proc.stdout, proc.stderr


def test_dev_zero_given_explicitly_is_refused_not_read() -> None:
    code = """
from kubehipaa.errors import InputError
from kubehipaa.sources.files import load_paths
try:
    load_paths(["/dev/zero"])
except InputError as exc:
    print(exc)
"""
    try:
        proc = _child(code, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("/dev/zero was read")
    assert "/dev/zero: is a character device, not a regular file" in proc.stdout, proc.stderr


def test_a_socket_and_a_symlink_to_a_device_in_a_walk_are_skipped(tmp_path: Path) -> None:
    import socket

    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock.yaml"))
        result = load_paths([str(tmp_path)])
    assert [o.name for o in result.objects] == ["p"]
    by_file = {Path(p.file).name: p for p in result.problems}
    assert "character device" in by_file["zero.yaml"].message and not by_file["zero.yaml"].lost
    assert "socket" in by_file["sock.yaml"].message and not by_file["sock.yaml"].lost


def test_stream_paths_are_read_like_stdin(tmp_path: Path) -> None:
    """`kubehipaa scan <(helm template ...)` hands over /dev/fd/63: a pipe the user opened on purpose."""
    r, w = os.pipe()
    os.write(w, POD.encode())
    os.close(w)
    try:
        result = load_paths([f"/dev/fd/{r}"])
    finally:
        os.close(r)
    assert [(o.name, o.file) for o in result.objects] == [("p", f"/dev/fd/{r}")]
    assert reading.is_stream_path("/dev/stdin") and reading.is_stream_path("/proc/self/fd/0")
    assert not reading.is_stream_path("/dev/zero") and not reading.is_stream_path("/dev/fd/x")


# ---- size caps --------------------------------------------------------------------------------------------


def test_a_file_over_the_cap_is_lost_input_naming_the_cap(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(POD)
    (tmp_path / "big.yaml").write_text(POD + "# " + "x" * 2000 + "\n")
    limits.configure(Limits(file_bytes=1024))
    result = load_paths([str(tmp_path)])
    assert [o.name for o in result.objects] == ["p"]
    [problem] = result.problems
    assert problem.file == str(tmp_path / "big.yaml") and problem.lost
    assert "larger than 1 KiB" in problem.message and "--max-file-bytes" in problem.message


def test_stdin_is_read_within_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    class Endless(io.RawIOBase):
        """A stream that never ends, like `cat /dev/zero |`: reading it whole would never return."""

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            b[:] = b"\0" * len(b)
            return len(b)

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(Endless())))
    monkeypatch.setenv(limits.FILE_ENV, "4Mi")
    result = load_paths(["-"])
    [problem] = result.problems
    assert problem.file == "<stdin>" and problem.lost and "larger than 4 MiB" in problem.message


def test_the_cap_comes_from_the_environment_and_sizes_read_like_kubernetes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert limits.current() == Limits()
    monkeypatch.setenv(limits.FILE_ENV, "256Mi")
    monkeypatch.setenv(limits.LINE_ENV, "1G")
    monkeypatch.setenv(limits.GZIP_ENV, "50")
    assert limits.current() == Limits(256 << 20, 10**9, 50)
    assert parse_size("64MiB") == parse_size("64Mi") == 64 << 20 and parse_size("512") == 512
    for bad in ("", "0", "-1", "1.5Gi", "64 mb", "x"):
        with pytest.raises(ValueError):
            parse_size(bad)
    monkeypatch.setenv(limits.FILE_ENV, "lots")
    with pytest.raises(Exception, match="KUBEHIPAA_MAX_FILE_BYTES"):
        limits.current()


def test_a_file_that_grows_past_its_stat_size_is_still_capped() -> None:
    """The first read asks for the size `stat` gave (+1); what comes after is still counted against the cap."""
    with pytest.raises(reading.TooLarge):
        reading.read_capped(io.BytesIO(b"y" * 5000), 4096, first=101)
    assert reading.read_capped(io.BytesIO(b"y" * 4096), 4096, first=101) == b"y" * 4096
    assert reading.read_capped(io.BytesIO(b""), 4096, first=1) == b""


# ---- directories that cannot be listed -------------------------------------------------------------------


def test_an_unreadable_subdirectory_is_lost_input_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.walk drops a directory it cannot list unless given onerror: the scan said "0 findings". Root reads
    any directory, so listing is made to fail as it does for another user (a real one: the next test)."""
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "secret-team").mkdir()
    (tmp_path / "secret-team" / "pod.yaml").write_text(POD.replace("name: p", "name: q"))
    real = os.scandir
    denied = str(tmp_path / "secret-team")

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        if os.fspath(path) == denied:
            raise PermissionError(13, "Permission denied", denied)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = load_paths([str(tmp_path)])
    assert [o.name for o in result.objects] == ["p"]
    [problem] = result.problems
    assert problem.file == denied and problem.lost
    assert problem.message.startswith("cannot read directory: Permission denied")


def test_an_unreadable_subdirectory_as_another_user() -> None:
    """The same with real permissions: as root, the loader drops to `nobody` once its modules are loaded."""
    base = Path(tempfile.mkdtemp(prefix="kubehipaa-perm-"))
    try:
        os.chmod(base, 0o755)
        (base / "pod.yaml").write_text(POD)
        locked = base / "locked"
        locked.mkdir()
        (locked / "pod.yaml").write_text(POD.replace("name: p", "name: q"))
        os.chmod(base / "pod.yaml", 0o644)
        os.chmod(locked, 0o000)
        drop = "os.setgid(65534); os.setuid(65534)" if os.geteuid() == 0 else "pass"
        code = f"""
import json, os
from kubehipaa.sources.files import load_paths
load_paths([{str(base / 'pod.yaml')!r}])  # every module the loader needs is imported before dropping root
{drop}
r = load_paths([{str(base)!r}])
print(json.dumps({{"objects": [o.name for o in r.objects],
                  "problems": [[p.file, p.message, p.lost] for p in r.problems]}}))
"""
        proc = _child(code)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["objects"] == ["p"]
        [(file, message, lost)] = out["problems"]
        assert file == str(locked) and message.startswith("cannot read directory: Permission denied") and lost
    finally:
        os.chmod(base / "locked", stat.S_IRWXU)
        shutil.rmtree(base)


def test_an_unreadable_file_is_lost_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.yaml").write_text(POD)
    (tmp_path / "b.yaml").write_text(POD.replace("name: p", "name: q"))
    real = os.open

    def deny(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        if os.fspath(path).endswith("b.yaml"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    result = load_paths([str(tmp_path)])
    assert [o.name for o in result.objects] == ["p"]
    [problem] = result.problems
    assert problem.lost and problem.message.startswith("cannot read: Permission denied")


def test_walk_order_and_hidden_names_are_as_before(tmp_path: Path) -> None:
    for rel in ("b.yaml", "a/z.yaml", "a/b/c.yml", "c.json", ".hidden/x.yaml", ".x.yaml", "notes.txt", "d/k/kustomization.yaml"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    walked = [str(p.relative_to(tmp_path)) for p in files._walk(tmp_path)]  # type: ignore[union-attr]
    assert walked == ["b.yaml", "c.json", "a/z.yaml", "a/b/c.yml", "d/k"]


def test_a_missing_path_and_a_path_that_cannot_be_examined_are_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        load_paths([str(tmp_path / "nope.yaml")])
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match="cannot read: Not a directory"):
        load_paths([str(tmp_path / "f" / "x.yaml")])


def test_kubectl_kustomize_output_is_read_within_the_cap(tmp_path: Path) -> None:
    """A kustomization whose rendering never ends (a generator gone wrong; here a fake kubectl printing
    forever): the output is read up to --max-file-bytes, the process is stopped, the directory is lost input."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text("#!/bin/sh\nexec yes 'a: b'\n")
    fake.chmod(0o755)
    app = tmp_path / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources: []\n")
    code = f"""
import json
from kubehipaa.sources.files import load_paths
r = load_paths([{str(app)!r}])
print(json.dumps([[p.file, p.message, p.lost] for p in r.problems]))
"""
    try:
        proc = _child(code, timeout=60, env={"PATH": f"{bin_dir}:{os.environ['PATH']}", limits.FILE_ENV: "1Mi"})
    except subprocess.TimeoutExpired:
        pytest.fail("an endless kubectl kustomize output was read without end")
    assert proc.returncode == 0, proc.stderr
    [(file, message, lost)] = json.loads(proc.stdout)
    assert file == str(app) and lost
    assert message.startswith("kubectl kustomize failed: its output is larger than 1 MiB")


def test_parallel_loading_reports_the_same_skips_and_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(40):
        (tmp_path / f"f{i:02d}.yaml").write_text(POD.replace("name: p", f"name: p{i}") + ("#" * 3000 if i % 9 == 0
                                                                                          else ""))
    os.mkfifo(tmp_path / "m-pipe.yaml")
    (tmp_path / "dup.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1', a: '2'}\n")
    monkeypatch.setattr(files, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(files, "_BATCH", 3)
    limits.configure(Limits(file_bytes=2048))
    serial = load_paths([str(tmp_path)], jobs=1)
    parallel = load_paths([str(tmp_path)], jobs=2)
    assert [(o.doc, o.file, o.line) for o in parallel.objects] == [(o.doc, o.file, o.line) for o in serial.objects]
    assert parallel.problems == serial.problems
    assert sorted({p.message.split(" (")[0].split(";")[0] for p in serial.problems}) == [
        "duplicate key data.a", "is a FIFO", "larger than 2 KiB"]
