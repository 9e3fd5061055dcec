"""An unattended signed-in screen clears itself, in a real browser (Debian's chromium, headless) against `station
serve` (cheroot): with ``server.session_idle_minutes = 1`` a page that nobody touches goes by itself to the sign-in page
once the minute has passed, which says why, and what was typed on it is gone from the screen. Without this the page
(a voter's name, CNIC and photo at a polling booth) stayed on the screen until someone clicked, although the server had
ended the session. Real time: about 65 seconds."""
import time

import pytest

from tests.support.browser import Browser, login  # playwright, a test dependency: missing, the module fails
from tests.support.stations import PASSWORDS, ServerProcess, station_with_users

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_pass_only(
    "the browser's own timer; the server's idle sign-out runs on PostgreSQL in tests/api/test_idle_sign_out.py")]


@pytest.fixture(scope="module")
def idle_home(tmp_path_factory, make_database_url):
    home = tmp_path_factory.mktemp("idle-browser-home")
    url = make_database_url()
    for _ in station_with_users(home, url, ["officer"]):
        yield home, url


def test_an_unattended_page_goes_to_the_sign_in_page_when_the_session_ends(idle_home):
    home, url = idle_home
    server = ServerProcess(home, url, {"STATION_SERVER__SESSION_IDLE_MINUTES": "1"})
    browser = Browser()
    try:
        page = browser.page(fresh_session=True)
        login(page, server.base, "officer", PASSWORDS["officer"][1])
        page.goto(f"{server.base}/next")
        shown = time.monotonic()
        page.fill("#cnic", "12345-1234567-1")
        page.wait_for_timeout(50_000)
        assert page.locator("#logout").count() == 1  # not before the limit
        page.wait_for_selector("#username", timeout=30_000)  # nobody touched it: the sign-in page came by itself
        left_after = time.monotonic() - shown
        text = page.inner_text("main")
        assert left_after >= 55, left_after  # the page's timer: the limit + 2 s from the page's DOMContentLoaded
        assert "1 minute without use" in text, text
        assert page.locator("#logout").count() == 0 and "12345-1234567-1" not in page.content()
    finally:
        browser.close()
        server.stop()
