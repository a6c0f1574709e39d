"""`scan --format pdf`: the evidence report printed by Chromium (kubehipaa[pdf]). The PDF's first page is rendered
to PNG with poppler's pdftoppm and its text read with pdftotext: the title, the overall score and paragraph ids
are there, and no secret is."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.config import load_config
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.pipelines.scan import scan
from kubehipaa.sources.files import load_paths
from tests.conftest import ROOT
from tests.reports.browser import CHROMIUM

POPPLER = [shutil.which("pdftoppm"), shutil.which("pdftotext")]
pytestmark = pytest.mark.skipif(not all(POPPLER), reason="poppler-utils (pdftoppm, pdftotext) is not installed")
SECRET = "hunter2-s3cr3t-pdf"
EXTRA = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: intake, namespace: clinical}}
spec:
  selector: {{matchLabels: {{app: intake}}}}
  template:
    metadata: {{labels: {{app: intake}}}}
    spec:
      containers:
        - name: intake
          image: registry.example/intake:1.2.3
          env: [{{name: DB_PASSWORD, value: {SECRET}}}]
"""


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int | None]:
    root = tmp_path_factory.mktemp("pdf")
    manifests = root / "k8s"
    shutil.copytree(ROOT / "examples" / "clinic-insecure", manifests)
    (manifests / "intake.yaml").write_text(EXTRA)
    out = root / "report.pdf"
    res = CliRunner().invoke(app, ["scan", str(manifests), "--trust-config", "-f", "pdf", "-o", str(out)],
                             env={"KUBEHIPAA_CHROMIUM": CHROMIUM})
    assert res.exit_code == 1, res.output
    cfg = load_config(str(manifests / ".kubehipaa.yaml"))
    return out, scan_coverage(scan(load_paths([str(manifests)]), cfg).result).score().percent


def test_pdf_first_page_renders_to_png(pdf: tuple[Path, int | None]) -> None:
    path, _ = pdf
    assert path.read_bytes()[:5] == b"%PDF-"
    prefix = path.parent / "page"
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(path), str(prefix)], check=True)
    pngs = sorted(path.parent.glob("page*.png"))
    assert len(pngs) == 1
    print(f"page 1: {pngs[0]}")
    data = pngs[0].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert abs(width - 413) <= 1 and abs(height - 585) <= 1  # A4 portrait at 50 dpi (210 x 297 mm)


def test_pdf_text_has_the_title_score_and_paragraphs(pdf: tuple[Path, int | None]) -> None:
    path, percent = pdf
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(path), "-"], check=True,
                           capture_output=True, text=True).stdout
    assert "HIPAA Security Rule evidence report" in first
    assert "Overall score" in first and (f"{percent}%" if percent is not None else "n/a") in first
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    for pid in ("164.308(a)(1)(i)", "164.310(d)(1)", "164.312(a)(1)", "164.316(b)(1)"):
        assert f"§{pid}" in text, pid
    assert "Scan metadata" in text and "Attestation required" in text and "page 2 of" in text
    assert "Severity" in text  # findings tables are printed ...
    assert "show suppressed" not in text  # ... the on-screen filter controls are not
    assert SECRET not in text


def test_pdf_to_stdout_only_when_asked_with_dash_o(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["scan", str(ROOT / "examples" / "clinic-hardened"), "--trust-config", "-f", "pdf",
                                   "-o", "-", "--check", "KH-WL-001"], env={"KUBEHIPAA_CHROMIUM": CHROMIUM})
    assert res.exit_code in (0, 1), res.output
    assert res.stdout_bytes.startswith(b"%PDF-") and res.stdout_bytes.rstrip().endswith(b"%%EOF")
