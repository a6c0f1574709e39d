"""`kubehipaa verify FILE`: is this report what kubehipaa wrote (and signed)? If not, what changed.

The file is read by `sources.report_file` (a JSON report, or an HTML report embedding its sealed data);
the check is `reports.integrity.check`, the same for every format and for saved scans. Keys are read here
(small files, within the input caps) and parsed by `reports.integrity`.

Exit codes: 0 intact (and the signature valid, by the given key when --public-key is given); 1 changed, not
sealed, or a signature that is missing, invalid or by another key; 2 unreadable or not a kubehipaa report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, HISTORY_URL_HELP, console, err_console
from kubehipaa.errors import KubehipaaError
from kubehipaa.redaction import redact_text
from kubehipaa.reports import integrity
from kubehipaa.sources.reading import ReadRefused, read_path
from kubehipaa.sources.report_file import read_report

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE_CAP = 64 * 1024
"""A PEM or OpenSSH key is a few hundred bytes: anything much larger is not a key."""
PASSWORD_ENV = "KUBEHIPAA_SIGN_KEY_PASSWORD"


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return read_path(str(path), KEY_FILE_CAP)
    except ReadRefused as exc:
        raise KubehipaaError(f"{path}: cannot read the {what}: {exc.reason}") from None
    except OSError as exc:
        raise KubehipaaError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None


def load_sign_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key of `--sign-key FILE` (PEM or OpenSSH; encrypted: password in
    $KUBEHIPAA_SIGN_KEY_PASSWORD). A bad key is one line naming the file, exit 2."""
    password = os.environ.get(PASSWORD_ENV)
    try:
        return integrity.load_private_key(_read_key_file(path, "signing key"),
                                          password.encode() if password else None)
    except integrity.IntegrityError as exc:
        raise KubehipaaError(f"{path}: {exc}") from None


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        return integrity.load_public_key(_read_key_file(path, "public key"))
    except integrity.IntegrityError as exc:
        raise KubehipaaError(f"{path}: {exc}") from None


def verify(
    file: Path | None = typer.Argument(None, help="A kubehipaa report: JSON (scan -f json) or HTML (scan -f html)."),
    public_key: Path | None = typer.Option(
        None, "--public-key", metavar="PEM",
        help="Require a signature by this Ed25519 public key (PEM, or an OpenSSH ssh-ed25519 line)."),
    history: int | None = typer.Option(
        None, "--history", metavar="ID", help="Verify the saved scan ID of the history instead of a file."),
    history_url: str | None = typer.Option(
        None, "--history-url", help="With --history: " + HISTORY_URL_HELP),
) -> None:
    """Check a report's integrity block: its SHA-256 over the canonical content and, when signed, its Ed25519
    signature. When it does not match, name what changed (sections, findings by fingerprint).

    Examples:

      kubehipaa verify report.json

      kubehipaa verify report.html --public-key signer.pub.pem

      kubehipaa verify --history 42          # a saved scan: its sealed report and the rows queries read

    Without --public-key a signature is checked against the key recorded in the report, which proves the
    content was not changed after signing but not who signed it: the signer's key fingerprint is printed,
    compare it, or pass --public-key. An unsigned report only shows accidental or naive edits: anyone can
    recompute a digest.

    Exit codes: 0 intact; 1 changed, not sealed, or signature missing / invalid / by another key;
    2 unreadable or not a kubehipaa report.
    """
    if (file is None) == (history is None):
        raise typer.BadParameter("give a report FILE or --history ID")
    if history is not None:
        raise typer.Exit(_verify_saved(history, history_url))
    assert file is not None
    try:
        key = load_public_key(public_key) if public_key is not None else None
        report = read_report(str(file))
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    result = integrity.check(report.tree, key)
    where = "embedded data" if report.kind == "html" else "line"
    for line, message in report.duplicates:
        result.problems.append(f"{where} {line}: {message} (kubehipaa never writes a duplicate key)")
    ok = result.ok and not report.duplicates
    _print(str(file), result, ok)
    raise typer.Exit(EXIT_OK if ok else EXIT_FINDINGS)


def _verify_saved(scan_id: int, history_url: str | None) -> int:
    """A saved scan: its sealed report's digest and the finding rows against that report (pipelines.history)."""
    from kubehipaa.cli.common import load_config_if_present
    from kubehipaa.config import Config
    from kubehipaa.pipelines.history import open_history, verify_saved

    try:
        with open_history(history_url, load_config_if_present() or Config(), create=False) as store:
            checked = verify_saved(store, scan_id)
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        return EXIT_ERROR
    if checked.ok:
        console.print(f"saved scan #{scan_id}: intact (sha256:{checked.stored})", soft_wrap=True, highlight=False)
        return EXIT_OK
    console.print(f"saved scan #{scan_id}: CHANGED", soft_wrap=True, highlight=False)
    for problem in checked.problems:
        console.print(f"  {escape(problem)}", soft_wrap=True, highlight=False)
    return EXIT_FINDINGS


def _print(name: str, result: integrity.VerifyResult, ok: bool) -> None:
    def out(text: str) -> None:
        # names come from the file being checked, which may not be ours: redacted like every quoted input
        console.print(escape(redact_text(text)), soft_wrap=True, highlight=False)

    if result.status == integrity.INTACT:
        out(f"{name}: content intact (sha256 {result.digest})")
    elif result.status == integrity.CHANGED:
        out(f"{name}: CHANGED since it was sealed (sha256 now {result.digest}, sealed {result.expected})")
        for change in result.changes:
            out(f"  {change}")
    else:
        out(f"{name}: NOT VERIFIED ({result.status})")
    signature = {
        None: "not signed",
        "valid": f"signature valid, key {result.signer}",
        "invalid": "signature INVALID",
        "missing": "NOT SIGNED, but --public-key requires a signature",
        "wrong-key": "signed by ANOTHER KEY than --public-key",
    }[result.signature]
    out(f"  {signature}")
    for problem in result.problems:
        out(f"  {problem}")
    out(f"{name}: {'OK' if ok else 'FAILED'}")
