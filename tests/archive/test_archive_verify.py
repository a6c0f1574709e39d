"""`audit archive verify`: each kind of tampering is detected and named, one line each, exit 1; a clean store
exits 0 (issue 16 req 6, 9). Each test also shows why a weaker verifier would miss it (hashes only, chain
only, no signatures)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import orjson
import pytest

from tests.archive.support import cli, cli_process, day_events, manifest_lines, write_log

pytest.importorskip("pyarrow")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Three ingests over two days each: six segments, seq 1-6."""
    st = tmp_path / "st"
    for k, days in enumerate((("2026-11-01", "2026-11-02"), ("2026-11-02", "2026-11-03"), ("2026-11-04", "2026-11-05"))):
        log = write_log(tmp_path / f"a{k}.log", [e for d in days for e in day_events(d, 5 + k, prefix=f"f{k}")])
        assert cli("add", str(log), "--store", str(st)).exit_code == 0
    assert len(manifest_lines(st)) == 6
    return st


def _verify(store: Path, *extra: str) -> tuple[int, list[str]]:
    res = cli("verify", str(store), *extra)
    lines = [ln for ln in res.stdout.splitlines() if ln and not ln.startswith(("OK", "FAILED"))]
    return res.exit_code, lines


def _kinds(lines: list[str]) -> list[str]:
    return [ln.split(":", 1)[0] for ln in lines]


def _entries(store: Path) -> list[dict]:
    return [json.loads(x) for x in manifest_lines(store)]


def _write_lines(store: Path, lines: list[bytes]) -> None:
    (store / "manifest.jsonl").write_bytes(b"".join(ln + b"\n" for ln in lines))


def _rechain(entries: list[dict]) -> list[bytes]:
    """What an attacker without the key can do: renumber and re-link every entry (signatures left as they were)."""
    out, prev = [], "0" * 64
    for i, e in enumerate(entries, 1):
        e = {**e, "seq": i, "prev": prev}
        line = orjson.dumps(e, option=orjson.OPT_SORT_KEYS)
        prev = hashlib.sha256(line).hexdigest()
        out.append(line)
    return out


def test_an_untouched_store_verifies(store: Path) -> None:
    res = cli("verify", str(store))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("OK: 6 manifest entries, 6 segments, 36 events")
    js = cli("verify", str(store), "--format", "json")
    doc = json.loads(js.stdout)
    assert doc["ok"] is True and doc["head"]["seq"] == 6 and doc["problems"] == []


def test_a_deleted_segment_is_named(store: Path) -> None:
    victim = _entries(store)[2]["path"]
    (store / victim).unlink()
    code, lines = _verify(store)
    assert code == 1
    assert _kinds(lines) == ["deleted-segment"] and victim in lines[0] and "seq 3" in lines[0]


def test_a_modified_segment_is_named(store: Path) -> None:
    import pyarrow.parquet as pq

    victim = store / _entries(store)[3]["path"]
    table = pq.read_table(victim)
    pq.write_table(table.slice(1), victim, compression="zstd")  # one event removed, still a valid Parquet file
    code, lines = _verify(store)
    assert code == 1
    assert _kinds(lines) == ["modified-segment"] and "seq 4" in lines[0]


def test_swapped_segments_are_named_as_moved(store: Path) -> None:
    a, b = (store / e["path"] for e in _entries(store)[:2])
    tmp = a.with_name("swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    code, lines = _verify(store)
    assert code == 1 and _kinds(lines) == ["moved-segment", "moved-segment"]


def test_reordered_manifest_lines_are_named(store: Path) -> None:
    lines = manifest_lines(store)
    lines[1], lines[2] = lines[2], lines[1]
    _write_lines(store, lines)
    code, out = _verify(store)
    assert code == 1
    # every segment still hashes right: a verifier of hashes alone passes this store
    assert _kinds(out) == ["reordered"] and "seq 2" in out[0]


def test_an_inserted_segment_file_is_named(store: Path) -> None:
    src = store / _entries(store)[0]["path"]
    forged = src.parent / "20991231T000000Z-forged.parquet"
    shutil.copy(src, forged)
    code, lines = _verify(store)
    assert code == 1 and _kinds(lines) == ["inserted-segment"] and forged.name in lines[0]


def test_an_inserted_manifest_line_is_named(store: Path) -> None:
    """A forged entry, well linked to its predecessor, slipped between seq 3 and 4 with its own segment."""
    lines = manifest_lines(store)
    entries = _entries(store)
    src = store / entries[2]["path"]
    forged_path = src.parent / "20991231T000000Z-forged.parquet"
    shutil.copy(src, forged_path)
    forged = {**entries[2], "path": forged_path.relative_to(store).as_posix(), "seq": 4,
              "prev": hashlib.sha256(lines[2]).hexdigest()}
    lines.insert(3, orjson.dumps(forged, option=orjson.OPT_SORT_KEYS))
    _write_lines(store, lines)
    code, out = _verify(store)
    assert code == 1
    assert _kinds(out) == ["inserted-entry", "inserted-segment"]
    assert "manifest line 4" in out[0] and forged_path.name in out[1]


def test_an_edited_manifest_line_breaks_the_chain_and_is_named(store: Path) -> None:
    lines = manifest_lines(store)
    e = json.loads(lines[1])
    e["count"] += 1
    lines[1] = orjson.dumps(e, option=orjson.OPT_SORT_KEYS)
    _write_lines(store, lines)
    code, out = _verify(store)
    assert code == 1
    assert "broken-chain" in _kinds(out)
    assert any("manifest line 2 (seq 2) was edited" in ln for ln in out)


def test_a_deleted_manifest_line_is_named(store: Path) -> None:
    lines = manifest_lines(store)
    gone = json.loads(lines[3])["path"]
    del lines[3]
    _write_lines(store, lines)
    code, out = _verify(store)
    assert code == 1
    assert _kinds(out) == ["deleted-entry", "inserted-segment"]
    assert "seq 4 are missing" in out[0] and gone in out[1]


def test_a_truncated_last_line_is_reported_as_such_and_add_refuses_to_chain_after_it(store: Path,
                                                                                     tmp_path: Path) -> None:
    data = (store / "manifest.jsonl").read_bytes()
    (store / "manifest.jsonl").write_bytes(data[:-40])  # a crash in the middle of the last append
    code, out = _verify(store)
    assert code == 1 and "truncated" in _kinds(out)
    assert any("line 6" in ln for ln in out if ln.startswith("truncated"))
    log = write_log(tmp_path / "more.log", day_events("2026-11-06", 2, prefix="m"))
    proc = cli_process("add", str(log), "--store", str(store))
    assert proc.returncode == 2 and "truncated" in proc.stderr
    assert (store / "manifest.jsonl").read_bytes() == data[:-40]


def _signed_store(tmp_path: Path, *key_args: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    st = tmp_path / "signed"
    for k in range(2):
        log = write_log(tmp_path / f"s{k}.log", day_events(f"2026-11-0{k + 1}", 4, prefix=f"s{k}"))
        res = cli("add", str(log), "--store", str(st), *key_args)
        assert res.exit_code == 0, res.output
    return st


def _forge_count(st: Path) -> None:
    """Edit an entry and re-link the whole chain: the chain verifies again, only a signature can tell."""
    entries = _entries(st)
    entries[0]["count"] += 100
    _write_lines(st, _rechain(entries))


def test_a_bad_hmac_signature_is_named(tmp_path: Path) -> None:
    key = tmp_path / "archive.key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    st = _signed_store(tmp_path, "--hmac-key", str(key))
    assert _verify(st, "--hmac-key", str(key)) == (0, [])
    assert all(e["sig"]["alg"] == "hmac-sha256" for e in _entries(st))
    other = tmp_path / "other.key"
    other.write_text("fedcba9876543210fedcba9876543210\n")
    code, out = _verify(st, "--hmac-key", str(other))
    assert code == 1 and _kinds(out) == ["bad-signature", "bad-signature"]
    _forge_count(st)
    code, out = _verify(st, "--hmac-key", str(key))
    assert code == 1 and "bad-signature" in _kinds(out) and any("manifest line 1" in ln for ln in out)


def test_a_bad_or_missing_ed25519_signature_is_named(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    priv = Ed25519PrivateKey.generate()
    key, pub = tmp_path / "archive.pem", tmp_path / "archive.pub"
    key.write_bytes(priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    st = _signed_store(tmp_path, "--ed25519-key", str(key))
    assert _verify(st, "--ed25519-pub", str(pub)) == (0, [])
    entries = _entries(st)
    for e in entries:
        e.pop("sig")
    _write_lines(st, _rechain(entries))
    code, out = _verify(st, "--ed25519-pub", str(pub))
    assert code == 1 and _kinds(out) == ["unsigned", "unsigned"]
    st2 = _signed_store(tmp_path / "b", "--ed25519-key", str(key))
    _forge_count(st2)
    code, out = _verify(st2, "--ed25519-pub", str(pub))
    assert code == 1 and _kinds(out)[0] == "bad-signature" and "manifest line 1" in out[0]


def test_cutting_off_the_tail_is_caught_by_the_expected_head(store: Path) -> None:
    head = cli("verify", str(store)).stdout.split("sha256 ")[-1].strip()
    last = _entries(store)[-1]
    (store / last["path"]).unlink()
    _write_lines(store, manifest_lines(store)[:-1])
    assert _verify(store)[0] == 0  # the documented limit: nothing inside the store says the tail is gone
    code, out = _verify(store, "--expect-head", head)
    assert code == 1 and _kinds(out) == ["deleted-entry"]


def test_not_an_archive_is_an_input_error(tmp_path: Path) -> None:
    proc = cli_process("verify", str(tmp_path))
    assert proc.returncode == 2 and "not an archive" in proc.stderr and "Traceback" not in proc.stderr
    bad_key = tmp_path / "k"
    bad_key.write_text("short")
    proc = cli_process("verify", str(tmp_path), "--hmac-key", str(bad_key))
    assert proc.returncode == 2 and "16 bytes" in proc.stderr


def test_a_signed_store_refuses_unsigned_or_differently_signed_appends(tmp_path: Path) -> None:
    key = tmp_path / "archive.key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    st = _signed_store(tmp_path, "--hmac-key", str(key))
    before = (st / "manifest.jsonl").read_bytes()
    log = write_log(tmp_path / "late.log", day_events("2026-11-09", 2, prefix="late"))
    proc = cli_process("add", str(log), "--store", str(st))
    assert proc.returncode == 2 and "--hmac-key" in proc.stderr
    other = tmp_path / "other.key"
    other.write_text("fedcba9876543210fedcba9876543210\n")
    proc = cli_process("add", str(log), "--store", str(st), "--hmac-key", str(other))
    assert proc.returncode == 2 and "signed with hmac-sha256 key" in proc.stderr
    assert (st / "manifest.jsonl").read_bytes() == before
    assert cli("add", str(log), "--store", str(st), "--hmac-key", str(key)).exit_code == 0
    assert _verify(st, "--hmac-key", str(key)) == (0, [])


def test_hostile_manifest_lines_are_problems_not_crashes(store: Path) -> None:
    lines = manifest_lines(store)
    hostile = [
        b'{"seq":"x","prev":5,"kind":"segment","path":["a"],"count":"9"}',
        b"[1,2]",
        b"not json at all",
        b'{"kind":"segment","seq":7,"prev":"' + b"0" * 64 + b'","path":"events/../../etc/passwd","count":1}',
        b'{"kind":"prune","seq":8,"prev":"","cutoff":"9999-12-31","removed":"all"}',
        b'{"kind":"prune","seq":9,"prev":"","cutoff":"9999-12-31","removed":[{"seq":true},{"seq":1,"path":7}]}',
        b'{"kind":"segment","seq":true,"prev":null}',
    ]
    _write_lines(store, lines + hostile)
    res = cli("verify", str(store))
    assert res.exit_code == 1, res.output
    assert "broken-chain" in res.stdout and "invalid-prune" in res.stdout
    js = cli("verify", str(store), "--format", "json")
    assert json.loads(js.stdout)["ok"] is False
    proc = cli_process("prune", str(store), "--older-than", "1d")
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1, 2)
