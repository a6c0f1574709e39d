"""The evidence report as PDF: the HTML report (`evidence_html`) printed by headless Chromium through Playwright.

Why Chromium's print-to-PDF and not WeasyPrint (docs/reports.md, "PDF"): the PDF is then the very page the
browser tests verify, laid out by its print stylesheet (inline SVG charts, tables with repeated headers), not a
second rendering engine's reading of it; Playwright is a small wheel (its driver, no browser) and uses the
system's Chromium (Debian `chromium`), which CI installs anyway for the HTML tests; WeasyPrint would add
Pango/cairo system libraries and its own CSS subset. Optional (`pip install 'kubehipaa[pdf]'`): nothing else
in kubehipaa needs a browser.

The page is loaded from memory with every network request refused (the report has none; this makes sure).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from kubehipaa.errors import KubehipaaError

CHROMIUM_ENV = "KUBEHIPAA_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_MS = 300_000
FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;color:#57606a">'
          'kubehipaa HIPAA evidence report · page <span class="pageNumber"></span> of '
          '<span class="totalPages"></span></div>')
MISSING_EXTRA = ("--format pdf needs the pdf extra (pip install 'kubehipaa[pdf]') and a Chromium "
                 "(apt-get install chromium, or `playwright install chromium`)")


def chromium_path() -> str | None:
    """The Chromium to print with: $KUBEHIPAA_CHROMIUM, else the first on PATH; None lets Playwright use its own
    downloaded browser (`playwright install chromium`)."""
    wanted = os.environ.get(CHROMIUM_ENV)
    if wanted:
        return wanted
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def html_to_pdf(html: str) -> bytes:
    """`html` printed to PDF (A4, backgrounds, page numbers); one-line `KubehipaaError` when Playwright or a
    browser is missing or the browser fails."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise KubehipaaError(MISSING_EXTRA) from None
    executable = chromium_path()
    try:
        with sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(executable_path=executable)
            except PlaywrightError as exc:
                where = executable or "Playwright's bundled chromium"
                raise KubehipaaError(f"--format pdf: cannot start {where}: {_first_line(exc)}; "
                                     + MISSING_EXTRA.split(" needs ", 1)[1]) from None
            try:
                page = browser.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.route("**/*", _refuse)
                page.set_content(html, wait_until="load")
                page.emulate_media(media="print")
                pdf: bytes = page.pdf(format="A4", print_background=True, prefer_css_page_size=True,
                                      display_header_footer=True, header_template="<span></span>",
                                      footer_template=FOOTER,
                                      margin={"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"})
                return pdf
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise KubehipaaError(f"--format pdf: the browser failed: {_first_line(exc)}") from None


def _refuse(route: Any) -> None:
    route.abort()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
