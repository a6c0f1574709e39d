"""Log lines, warnings and error messages are redacted like reports (the CLI's stderr console, log records)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from kubehipaa.checks.registry import Check, CheckMeta, Hit
from kubehipaa.cli import common
from kubehipaa.model import K8sObject, Severity

PW = "Zx9!kQ2#wLm5"
TOKEN = "ghp_" + "Ab3dE" * 8


def test_stderr_console_redacts_whatever_it_prints(monkeypatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(common, "err_console", common.RedactingConsole(file=buf, width=300, highlight=False))
    common.warn(f"cannot read /srv/in/password={PW}/x.yaml (token {TOKEN})")
    common.fail(f"postgresql://app:{PW}@db/ehr: refused")
    common.err_console.print(f"[red]error:[/red] ssn 123-45-6789 in {TOKEN}")
    out = buf.getvalue()
    assert PW not in out and TOKEN not in out and "123-45-6789" not in out
    assert "warning:" in out and "error:" in out and "postgresql://app:<redacted:secret>@db/ehr" in out


def test_log_records_are_redacted_where_they_are_made() -> None:
    common.install_log_redaction()  # idempotent; done when the CLI is imported
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("kubehipaa.test.redaction")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.error("rejected batch from %s: %s", "10.0.0.1", f"password={PW}")
        log.info('10.0.0.1 - "GET /audit?token=%s HTTP/1.1" 200', TOKEN)
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert PW not in out and TOKEN not in out
    assert "password=<redacted:secret>" in out and "/audit?<redacted:query>" in out


def test_access_log_keeps_its_arguments_and_tracebacks_are_redacted() -> None:
    """uvicorn's access formatter unpacks the record's arguments: they are redacted one by one, not replaced."""
    from uvicorn.logging import AccessFormatter

    common.install_log_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    log = logging.getLogger("kubehipaa.test.access")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        log.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "POST", f"/audit?token={TOKEN}", "1.1", 200)
    finally:
        log.removeHandler(handler)
    assert stream.getvalue().strip() == '10.0.0.1:5000 - "POST /audit?<redacted:query> HTTP/1.1" 200 OK'

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log.addHandler(handler)
    try:
        try:
            raise ValueError(f"cannot parse password={PW}")
        except ValueError:
            log.exception("batch failed")
    finally:
        log.removeHandler(handler)
    assert PW not in stream.getvalue() and "ValueError: cannot parse password=<redacted:secret>" in stream.getvalue()


def test_input_error_lines_of_the_real_cli_are_redacted(tmp_path: Path) -> None:
    """A path (or any text an error quotes) that carries a secret: one line on stderr, exit 2, no secret."""
    folder = tmp_path / f"token={PW}"
    folder.mkdir()
    missing = folder / "missing.yaml"
    proc = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "scan", str(missing)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert PW not in proc.stdout + proc.stderr
    assert "token=<redacted:secret>" in proc.stderr


def test_findings_are_redacted_and_masked_when_made() -> None:
    """The registry turns hits into findings: a shape (`**!@#$%^&*()#**`) is replaced by the fixed mask, and
    a message or a value that quotes input is redacted."""
    obj = K8sObject({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}}, "f.yaml", 1)

    def hits(_inv: object) -> list[Hit]:
        return [
            Hit(obj, "literal", path="data.password", value="**!@#$%^&*()#**", sensitive=True),
            Hit(obj, f"url postgresql://u:{PW}@db", path="data.url", value=f"--password={PW}"),
            Hit(obj, "keys", path="data", value=["data.password", "###-##-####"], sensitive=True),
            Hit(obj, "flag", path="spec.x", value=True),
        ]

    meta = CheckMeta(id="KH-TST-900", title="t", area="test", severity=Severity.LOW, hipaa=("164.312(b)",),
                     remediation="r")

    class _Inv:
        phi_namespaces: frozenset[str] = frozenset()

        @staticmethod
        def ref(o: K8sObject) -> object:
            return o.ref

        @staticmethod
        def finding_ref(o: K8sObject, redact: Callable[[Any], Any]) -> object:
            return redact(o.ref)  # as Inventory.finding_ref, without its per-object memo

    findings = Check(meta, hits).run(_Inv())  # type: ignore[arg-type]
    ev = [f.evidence[0] for f in findings]
    assert (ev[0].value, ev[0].redacted) == ("<redacted>", True)
    assert findings[1].message == "url postgresql://u:<redacted:secret>@db"
    assert (ev[1].value, ev[1].redacted) == ("--password=<redacted:secret>", True)
    assert ev[2].value == ["data.password", "<redacted>"]
    assert (ev[3].value, ev[3].redacted) == (True, False)


def test_redacting_console_keeps_markup_and_renderables() -> None:
    buf = io.StringIO()
    console = common.RedactingConsole(file=buf, width=200, force_terminal=False)
    console.print("[bold]plain[/bold] text", Console)  # a non-string renderable is printed as given
    assert "plain text" in buf.getvalue()
