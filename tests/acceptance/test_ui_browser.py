"""The registrar UI in a real browser (Debian's chromium, headless) against `station serve` (cheroot): a genuine
voter from card insert to ballot, an impostor falling to the presiding officer's exception, NOT_ON_ROLL, the switch to
Urdu (right-to-left), and a technician's fault injection surfacing as a clear message. Screenshots of the screens in
English and Urdu are saved under build/screenshots/."""
import time

import pytest

from tests.support.browser import Browser, login, screenshot  # playwright, a test dependency: missing, the module fails
from tests.support.stations import PASSWORDS, ServerProcess
from tests.support.webclient import Client

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_pass_only(
    "the browser and the pages; the API behind them runs on PostgreSQL in tests/api and tests/station/polling")]


@pytest.fixture(scope="module")
def server(station, station_home):
    srv = ServerProcess(station_home, station.config.database_url)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def api(server):
    client = Client(server.base)
    client.login("officer", PASSWORDS["officer"][1])
    return client


def signed_in(browser, server, username):
    page = browser.page(fresh_session=True)
    login(page, server.base, username, PASSWORDS[username][1])
    return page


def test_genuine_voter_from_card_to_ballot(browser, server, api, voters):
    voter = voters.take()
    page = signed_in(browser, server, "officer")
    page.goto(f"{server.base}/next")
    screenshot(page, "en-next-voter")
    assert api.post("/api/sim/card", {"cnic": voter.cnic})[0] == 200
    assert api.post("/api/sim/fingerprint", {"cnic": voter.cnic, "finger": voter.fingers[0]})[0] == 200
    started = time.perf_counter()
    page.click("#read-card")  # the card is in the reader
    page.wait_for_selector("#capture-fingerprint")
    assert voter.name_en in page.inner_text("#roll-entry") and voter.name_ur in page.inner_text("#roll-entry")
    page.click("#capture-fingerprint")
    page.wait_for_selector("#decision")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert page.inner_text("#decision") == "VERIFIED"
    print(f"\ncard insert -> decision on screen (simulated devices, chromium): {elapsed_ms:.0f} ms")
    screenshot(page, "en-verified")
    page.click("#issue-ballot")
    assert page.inner_text("#decision") == "BALLOT ISSUED"
    page.click("#lang-ur")  # the same screen, in Urdu
    assert page.get_attribute("html", "dir") == "rtl" and page.get_attribute("html", "lang") == "ur"
    assert page.inner_text("#decision") == "بیلٹ جاری ہو گیا"
    screenshot(page, "ur-ballot-issued")
    page.click("#lang-en")


def test_impostor_falls_to_the_presiding_officers_exception(browser, server, api, voters, station):
    victim = voters.take()
    # the impostor: a voter of another station's roll (only their fingers are used; no ballot for them)
    impostor = next(v for v in station.roll.list_voters() if v.polling_station != station.config.station.polling_station)
    for finger in victim.fingers:
        api.post("/api/sim/fingerprint", {"cnic": impostor.cnic, "finger": finger})
    page = signed_in(browser, server, "officer")
    page.goto(f"{server.base}/next")
    page.fill("#cnic", victim.cnic)
    page.click("#look-up")
    for _ in range(20):
        if page.locator("#capture-fingerprint").count() == 0:
            break
        page.click("#capture-fingerprint")
        page.wait_for_load_state()
        assert page.locator("#last-attempt").count() == 1
    assert page.inner_text("#decision") == "NOT VERIFIED"
    screenshot(page, "en-not-verified")
    url = page.url
    presiding = signed_in(browser, server, "presiding")
    presiding.goto(url)
    presiding.click("#open-exception")
    presiding.check("#reason-worn_prints")
    screenshot(presiding, "en-exception-dialog")
    presiding.click("#confirm-exception")
    assert presiding.inner_text("#decision") == "EXCEPTION RECORDED"
    presiding.click("#issue-ballot")
    assert presiding.inner_text("#decision") == "BALLOT ISSUED"


def test_not_on_roll_says_where_the_voter_is_registered(browser, server, station):
    elsewhere = next(v for v in station.roll.list_voters() if v.polling_station != station.config.station.polling_station)
    page = signed_in(browser, server, "officer")
    page.goto(f"{server.base}/next")
    page.fill("#cnic", "12345-1234567-1")
    page.click("#look-up")
    assert page.inner_text("#decision") == "NOT ON THIS STATION'S ROLL"
    page.goto(f"{server.base}/next")
    page.fill("#cnic", elsewhere.cnic)
    page.click("#look-up")
    assert elsewhere.polling_station in page.inner_text("#registered-at")
    screenshot(page, "en-not-on-roll")
    page.click("#lang-ur")
    assert page.get_attribute("html", "dir") == "rtl"
    assert "پولنگ اسٹیشن" in page.inner_text("#registered-at")
    screenshot(page, "ur-not-on-roll")
    page.click("#lang-en")


def test_a_cnic_typed_with_a_digit_too_many_is_kept_whole_and_refused(browser, server, voters):
    """The field formats 13 digits as 12345-1234567-1; a 14th digit typed (a slip) used to be cut off without a word,
    so a voter on the roll was looked up under another number: NOT ON THIS STATION'S ROLL."""
    digits = voters.take().cnic.replace("-", "")
    page = signed_in(browser, server, "officer")
    page.goto(f"{server.base}/next")
    page.click("#cnic")
    page.keyboard.type(digits)
    assert page.input_value("#cnic") == f"{digits[:5]}-{digits[5:12]}-{digits[12]}"
    page.fill("#cnic", "")
    page.click("#cnic")
    page.keyboard.type(digits[:6] + "7" + digits[6:])  # one digit too many, in the middle
    assert page.input_value("#cnic").replace("-", "") == digits[:6] + "7" + digits[6:]
    page.click("#look-up")
    assert "13 digits" in page.inner_text("#problem")
    assert page.query_selector("#decision") is None  # no verdict on a number the officer did not mean
    registrar = signed_in(browser, server, "registrar")  # the registration form's CNIC field is the same
    registrar.goto(f"{server.base}/register")
    registrar.click("#cnic")
    registrar.keyboard.type(digits + "7")
    assert registrar.input_value("#cnic").replace("-", "") == digits + "7"


def test_language_switch_keeps_the_screen_and_turns_right_to_left(browser, server):
    page = signed_in(browser, server, "presiding")
    for path, name in (("/next", "next-voter"), ("/search?q=a", "roll-search"), ("/summary", "summary"),
                       ("/technician", "devices"), ("/audit", "audit")):
        page.goto(f"{server.base}{path}")
        assert page.get_attribute("html", "dir") == "ltr"
        screenshot(page, f"en-{name}")
        page.click("#lang-ur")
        assert page.url.split("?")[0] == f"{server.base}{path.split('?')[0]}"
        assert page.get_attribute("html", "dir") == "rtl" and page.get_attribute("html", "lang") == "ur"
        page.wait_for_load_state("load")  # the stylesheet applied (a loaded machine is slow to fetch it)
        font = page.evaluate("getComputedStyle(document.body).fontFamily")
        assert font.startswith('"Noto Nastaliq Urdu"') and "Amiri" in font  # Nastaliq first, Naskh to fall back on
        screenshot(page, f"ur-{name}")
        page.goto(f"{server.base}{path}")  # remembered
        assert page.get_attribute("html", "dir") == "rtl"
        page.click("#lang-en")
    page.goto(f"{server.base}/next?lang=ur")
    page.evaluate("document.fonts.ready")
    # the Nastaliq face was fetched from this station and renders Urdu (not a system font, not a CDN)
    assert page.evaluate("""() => [...document.fonts].some(f => f.family.replace(/"/g, '') === 'Noto Nastaliq Urdu'
                                                         && f.status === 'loaded')""")
    assert page.evaluate("document.fonts.check('16px \"Noto Nastaliq Urdu\"', 'سلام')")
    page.click("#lang-en")
    page.goto(f"{server.base}/?lang=ur")
    page.click("#logout")
    assert page.get_attribute("html", "dir") == "rtl"  # the login page, still in Urdu
    screenshot(page, "ur-login")


def test_technician_fault_injection_surfaces_as_a_clear_message(browser, server, api, voters):
    page = signed_in(browser, server, "tech")
    page.select_option("#fault-kind", "fingerprint")
    page.select_option("#fault-fault", "disconnect")
    page.click("#inject-fault")
    assert "\tdisconnected\t" in page.inner_text("#device-fingerprint")  # the status, in the page's words
    page.click("#test-fingerprint")
    result = page.inner_text("#test-result")
    assert "TEST FAILED" in result and "disconnected" in result
    screenshot(page, "en-technician-fault")
    # the same fault in an officer's capture: a device problem banner, and the attempt is not counted
    voter = voters.take()
    api.post("/api/sim/fingerprint", {"cnic": voter.cnic, "finger": voter.fingers[0]})
    page.select_option("#fault-kind", "fingerprint")
    page.select_option("#fault-fault", "timeout")
    page.click("#inject-fault")
    officer = signed_in(browser, server, "officer")
    officer.goto(f"{server.base}/next")
    officer.fill("#cnic", voter.cnic)
    officer.click("#look-up")
    before = officer.inner_text("#attempts-left")
    officer.click("#capture-fingerprint")
    assert "DEVICE PROBLEM" in officer.inner_text("#problem")
    assert "timed out" in officer.inner_text("#problem-detail")
    assert officer.inner_text("#attempts-left") == before
    screenshot(officer, "en-device-problem")
    officer.click("#lang-ur")
    screenshot(officer, "ur-capture")
    officer.click("#lang-en")
    officer.click("#capture-fingerprint")
    assert officer.inner_text("#decision") == "VERIFIED"
