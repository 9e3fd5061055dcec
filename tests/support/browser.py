"""Debian's chromium, headless, driven by Playwright (never `playwright install`: the system browser is used).
Screenshots go to build/screenshots/ (gitignored artifacts)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright  # a test dependency (pyproject.toml): missing, the module fails

from tests.support.paths import REPO
from tests.support.require import INSTALL_TEST, require_path

SCREENSHOTS = REPO / "build" / "screenshots"
CHROMIUM = os.environ.get("STATION_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1366, "height": 768}


class Browser:
    """One chromium with a fresh profile; ``page()`` opens a page in its own cookie jar."""

    def __init__(self) -> None:
        require_path(CHROMIUM, INSTALL_TEST.format("chromium"), what=f"chromium at {CHROMIUM}",
                     legacy="STATION_REQUIRE_BROWSER")
        self.profile = tempfile.mkdtemp(prefix="station-chromium-")
        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            self.profile, executable_path=CHROMIUM, args=ARGS, headless=True, viewport=VIEWPORT)
        self._extra = []

    def page(self, *, fresh_session: bool = False):
        if not fresh_session:
            return self.context.new_page()
        browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        self._extra.append(browser)
        return browser.new_context(viewport=VIEWPORT).new_page()

    def close(self) -> None:
        for browser in self._extra:
            browser.close()
        self.context.close()
        self._pw.stop()
        shutil.rmtree(self.profile, ignore_errors=True)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_load_state()
    assert page.locator("#logout").count() == 1, page.content()[:2000]
