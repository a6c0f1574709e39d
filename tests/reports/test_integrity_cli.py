"""`kubehipaa scan -f json [--sign-key]` then `kubehipaa verify FILE [--public-key]`, end to end (issue 15 req 8).

Exit codes: 0 intact (signature valid when present/required), 1 changed / unsealed / bad signature,
2 unreadable or not a kubehipaa report.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.reports import integrity
from tests.conftest import ROOT

EXAMPLE = str(ROOT / "examples" / "clinic-insecure")


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def _keypair(where: Path, name: str) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    priv, pub = where / f"{name}.pem", where / f"{name}.pub.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One signed and one unsigned scan of the insecure example, and two key pairs."""
    d = tmp_path_factory.mktemp("sealed")
    priv, pub = _keypair(d, "alice")
    _, other_pub = _keypair(d, "mallory")
    code, out = _run("scan", EXAMPLE, "-f", "json", "-o", str(d / "signed.json"), "--fail-on", "never",
                     "--sign-key", str(priv))
    assert code == 0, out
    code, out = _run("scan", EXAMPLE, "-f", "json", "-o", str(d / "plain.json"), "--fail-on", "never")
    assert code == 0, out
    return {"signed": d / "signed.json", "plain": d / "plain.json", "pub": pub, "other": other_pub, "priv": priv}


def _edit(src: Path, dst: Path, change: Any) -> Path:
    doc = json.loads(src.read_text())
    change(doc)
    dst.write_text(json.dumps(doc, indent=1))
    return dst


def test_intact_signed_report_verifies(signed: dict[str, Path]) -> None:
    code, out = _run("verify", str(signed["signed"]), "--public-key", str(signed["pub"]))
    assert code == 0, out
    assert "content intact" in out and "signature valid" in out and out.rstrip().endswith("OK")
    code, out = _run("verify", str(signed["plain"]))
    assert code == 0 and "not signed" in out


def test_tampered_finding_value_names_the_finding(signed: dict[str, Path], tmp_path: Path) -> None:
    holder: dict[str, Any] = {}

    def tamper(doc: dict[str, Any]) -> None:
        f = next(f for f in doc["findings"] if f["evidence"])
        f["evidence"][0]["value"] = "fine"
        holder.update(f)

    path = _edit(signed["signed"], tmp_path / "t.json", tamper)
    code, out = _run("verify", str(path), "--public-key", str(signed["pub"]))
    assert code == 1, out
    res = holder["resource"]
    label = f"{holder['checkId']} {res['kind']}/{res['namespace']}/{res['name']}" if res["namespace"] else \
        f"{holder['checkId']} {res['kind']}/{res['name']}"
    assert f"finding {holder['fingerprint']} ({label}) changed" in out
    assert "CHANGED" in out and "FAILED" in out


def test_removed_findings_and_summary_edit(signed: dict[str, Path], tmp_path: Path) -> None:
    def tamper(doc: dict[str, Any]) -> None:
        del doc["findings"][:2]
        doc["summary"]["findings"] -= 2

    code, out = _run("verify", str(_edit(signed["plain"], tmp_path / "t.json", tamper)))
    assert code == 1
    assert "2 findings removed:" in out and "section summary changed" in out


def test_wrong_public_key_fails(signed: dict[str, Path]) -> None:
    code, out = _run("verify", str(signed["signed"]), "--public-key", str(signed["other"]))
    assert code == 1 and "ANOTHER KEY" in out


def test_unsigned_report_with_public_key_fails(signed: dict[str, Path]) -> None:
    code, out = _run("verify", str(signed["plain"]), "--public-key", str(signed["pub"]))
    assert code == 1 and "NOT SIGNED" in out


def test_swapped_signature_key_fails(signed: dict[str, Path], tmp_path: Path) -> None:
    """The recorded key replaced by another one's (fingerprint too): the signature no longer verifies."""
    mallory = Ed25519PrivateKey.generate().public_key()
    raw = mallory.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    import base64

    def swap(doc: dict[str, Any]) -> None:
        doc["integrity"]["signature"]["publicKey"] = base64.b64encode(raw).decode()
        doc["integrity"]["signature"]["keyFingerprint"] = integrity.key_fingerprint(mallory)

    code, out = _run("verify", str(_edit(signed["signed"], tmp_path / "t.json", swap)))
    assert code == 1 and "signature INVALID" in out


def test_report_without_integrity_block_fails(signed: dict[str, Path], tmp_path: Path) -> None:
    path = _edit(signed["plain"], tmp_path / "t.json", lambda d: d.pop("integrity"))
    code, out = _run("verify", str(path))
    assert code == 1 and "NOT VERIFIED" in out and "not sealed" in out


def test_duplicate_key_is_a_failure(signed: dict[str, Path], tmp_path: Path) -> None:
    """A reader that keeps the first of two `summary` keys would see other numbers than the digest covers."""
    text = signed["plain"].read_text()
    forged = text.replace('"summary": {', '"summary": {"findings": 0},\n  "summary": {', 1)
    path = tmp_path / "dup.json"
    path.write_text(forged)
    code, out = _run("verify", str(path))
    assert code == 1 and "duplicate key summary" in out


@pytest.mark.parametrize(("content", "message"), [
    (b'{"a": 1}', "not a kubehipaa report"),
    (b"not json at all", "not a kubehipaa report"),
    (b'{"tool": {"name": "kubehipaa"', "not valid JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"<html><body>hello</body></html>", "neither a JSON object nor an HTML page"),
])
def test_not_a_report_exits_2(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x"
    path.write_bytes(content)
    code, out = _run("verify", str(path))
    assert code == 2 and message in out and "Traceback" not in out


def test_unreadable_exits_2(tmp_path: Path) -> None:
    code, out = _run("verify", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in out
    code, out = _run("verify", str(tmp_path))
    assert code == 2 and "cannot read" in out


def test_html_report_embedding_the_sealed_data(signed: dict[str, Path], tmp_path: Path) -> None:
    tree = json.loads(signed["signed"].read_text())
    page = tmp_path / "report.html"
    page.write_text(f"<!doctype html><html><head><title>r</title></head><body><p>report</p>"
                    f"{integrity.embed_script(tree)}</body></html>")
    code, out = _run("verify", str(page), "--public-key", str(signed["pub"]))
    assert code == 0, out
    tree["summary"]["findings"] = 0
    page.write_text(f"<html>{integrity.embed_script(tree)}</html>")
    code, out = _run("verify", str(page))
    assert code == 1 and "section summary changed" in out
    page.write_text(f"<html>{integrity.embed_script(tree)}{integrity.embed_script(tree)}</html>")
    code, out = _run("verify", str(page))
    assert code == 2 and "ambiguous" in out


def test_sign_key_errors(signed: dict[str, Path], tmp_path: Path) -> None:
    code, out = _run("scan", EXAMPLE, "-f", "sarif", "--sign-key", str(signed["priv"]))
    assert code == 2 and "--sign-key needs a format" in out
    code, out = _run("scan", EXAMPLE, "-f", "json", "--sign-key", str(signed["pub"]))
    assert code == 2 and "not a PEM or OpenSSH private key" in out
    code, out = _run("scan", EXAMPLE, "-f", "json", "--sign-key", str(tmp_path / "nope.pem"))
    assert code == 2 and "cannot read the signing key" in out


def test_openssh_key_and_encrypted_pem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    ssh = tmp_path / "id_ed25519"
    ssh.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.NoEncryption()))
    pub = tmp_path / "id_ed25519.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                  serialization.PublicFormat.OpenSSH) + b" me@host\n")
    out_file = tmp_path / "r.json"
    code, out = _run("scan", EXAMPLE, "-f", "json", "-o", str(out_file), "--fail-on", "never", "--sign-key", str(ssh))
    assert code == 0, out
    code, out = _run("verify", str(out_file), "--public-key", str(pub))
    assert code == 0, out
    keygen = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=False)
    if keygen.returncode == 0:  # the recorded fingerprint is the one ssh-keygen prints
        assert keygen.stdout.split()[1] == json.loads(out_file.read_text())["integrity"]["signature"]["keyFingerprint"]

    enc = tmp_path / "enc.pem"
    enc.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"pw")))
    code, out = _run("scan", EXAMPLE, "-f", "json", "--sign-key", str(enc))
    assert code == 2 and "encrypted" in out
    monkeypatch.setenv("KUBEHIPAA_SIGN_KEY_PASSWORD", "pw")
    code, out = _run("scan", EXAMPLE, "-f", "json", "-o", str(out_file), "--fail-on", "never", "--sign-key", str(enc))
    assert code == 0, out


@pytest.mark.parametrize("open_tag", [
    '<script type="application/json" id="kubehipaa-report">',
    "<SCRIPT id='kubehipaa-report' type='application/json'>",
    '<script id=kubehipaa-report type="application/json">',
])
def test_html_embedding_tag_variants(signed: dict[str, Path], tmp_path: Path, open_tag: str) -> None:
    """Attribute order, quoting and case as an HTML author or minifier may write them; the data itself is what
    `embed_script` escapes (no `<` inside)."""
    from kubehipaa.sources.report_file import parse_report

    data = integrity.embed_script(json.loads(signed["plain"].read_text()))
    body = data[data.index(">") + 1:data.rindex("</script>")]
    page = f"<html><script>var x = 1;</script>{open_tag}{body}</Script></html>".encode()
    assert integrity.check(parse_report(page, "p.html").tree).ok
    # a look-alike id is not the report
    with pytest.raises(Exception, match="neither a JSON object"):
        parse_report(page.replace(b"kubehipaa-report", b"kubehipaa-reports"), "p.html")
    with pytest.raises(Exception, match="neither a JSON object"):
        parse_report(page.replace(b" id", b" data-id"), "p.html")


def test_names_quoted_from_the_file_are_redacted(signed: dict[str, Path], tmp_path: Path) -> None:
    """A forged finding's name is input like any other: verify's output never repeats a credential from it."""
    def forge(doc: dict[str, Any]) -> None:
        extra = json.loads(json.dumps(doc["findings"][0]))
        extra["fingerprint"] = "f" * 32
        extra["resource"]["name"] = "password=hunter2-s3cr3t"
        doc["findings"].append(extra)

    code, out = _run("verify", str(_edit(signed["plain"], tmp_path / "t.json", forge)))
    assert code == 1 and "1 finding added: " + "f" * 32 in out
    assert "hunter2-s3cr3t" not in out


def test_signed_html_evidence_report_verifies_and_a_tampered_one_fails(signed: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    """The HTML evidence report embeds the same sealed tree as JSON, signed with --sign-key: `verify` reads
    it from the page, checks the signature by the given key, and names an edited finding."""
    page = tmp_path / "report.html"
    code, out = _run("scan", EXAMPLE, "-f", "html", "-o", str(page), "--fail-on", "never",
                     "--sign-key", str(signed["priv"]))
    assert code == 0, out
    code, out = _run("verify", str(page), "--public-key", str(signed["pub"]))
    assert code == 0, out
    text = page.read_text()
    start = text.index('id="kubehipaa-report">') + len('id="kubehipaa-report">')
    end = text.index("</script>", start)
    tree = json.loads(text[start:end])
    tree["findings"][0]["severity"] = "low" if tree["findings"][0]["severity"] != "low" else "high"
    from kubehipaa.reports.integrity import script_json

    tampered = tmp_path / "tampered.html"
    tampered.write_text(text[:start] + script_json(tree) + text[end:])
    code, out = _run("verify", str(tampered), "--public-key", str(signed["pub"]))
    assert code == 1 and tree["findings"][0]["fingerprint"][:8] in out
