"""Open an HTML report in a real browser: Debian's chromium, driven by Playwright (`executable_path`).

Shared by every HTML output's test, so each asserts what its page shows, not how a browser is started. A
module that imports this is skipped, with the reason, when Playwright or chromium is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@contextmanager
def opened(path: Path) -> Iterator[tuple[Any, list[str]]]:
    """The loaded page of `path` and the URLs it requested (a self-contained report requests only itself)."""
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            yield page, requests
        finally:
            browser.close()
