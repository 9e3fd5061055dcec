"""The registration centre in a real browser (Debian's chromium, headless, Playwright) against `station serve`: a
registration officer types a person's demographics, captures the fingers (the simulated scanner steered through
/api/sim/fingerprint with a simulated person) and records a face exception with a photo, submits: ENROLLED. The same
person registers again under another CNIC: SENT TO ADJUDICATION, without the candidate shown to the officer. The
registrar opens the queue, sees the candidate with the evidence and the exception photo, is refused without a note,
decides "Duplicate": the queue is empty. One screen is checked in Urdu (right to left, the CNIC left to right).
Screenshots go to build/screenshots/. Without chromium the test is skipped, or fails when STATION_REQUIRE_ALL=1 (as
`make test` sets; tests/support/browser.py); playwright is a test dependency: without it the module fails."""
from __future__ import annotations

import base64
import re

import cv2
import numpy as np
import pytest

from tests.support.browser import Browser, login, screenshot
from tests.support.stations import ROLL_SEED, ServerProcess, add_users, build_station
from tests.support.webclient import Client
from station.config import write_local_overrides

FINGERS = ["right_thumb", "left_index"]
LABELS = {"right_thumb": "right thumb", "left_index": "left index finger"}
USERS = {"regofficer": ("registration_officer", "regofficer-test-pass"),
         "registrar": ("registrar", "registrar-test-pass")}
PERSON = {"name_en": "Saima Bibi", "name_ur": "صائمہ بی بی", "relation": "husband",
          "relative_name_en": "Tariq Mehmood", "relative_name_ur": "طارق محمود", "gender": "female",
          "date_of_birth": "1979-11-02", "address_en": "Mohalla Shaheedabad, Bagh", "address_ur": "محلہ شہید آباد، باغ",
          "census_block": "4417", "family_number": "23"}
FIRST_CNIC, SECOND_CNIC = "82101-4455667-2", "82101-7788990-4"  # even last digits: female


pytestmark = [pytest.mark.slow, pytest.mark.sqlite_pass_only(
    "the browser and the registration pages; registration and adjudication run on PostgreSQL in "
    "tests/station/registration and tests/api/test_ui_registration_pages.py")]


@pytest.fixture(scope="module")
def server(tmp_path_factory, make_database_url):
    home = tmp_path_factory.mktemp("registration-browser")
    write_local_overrides(home, "enrollment", {"fingers": FINGERS})  # read by this process and by `station serve`
    database_url = make_database_url()
    st = build_station(home, database_url)
    st.init()
    st.synthesize_roll(6, ROLL_SEED)
    add_users(st, USERS)
    st.close()
    srv = ServerProcess(home, database_url)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    b = Browser()  # requires chromium (tests/support/browser.py)
    yield b
    b.close()


@pytest.fixture(scope="module")
def sim(server):
    """The simulated devices of the served station, steered like a test rig would (JSON API, bearer token)."""
    client = Client(server.base)
    client.login("regofficer", USERS["regofficer"][1])
    return client


def photo_base64() -> str:
    """A camera frame for the exception photo: a drawn hand-sized shape, no person's photo."""
    image = np.full((240, 320, 3), 200, np.uint8)
    cv2.ellipse(image, (160, 130), (60, 90), 0, 0, 360, (90, 120, 170), -1)
    return base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()


def signed_in(browser, server, username):
    page = browser.page(fresh_session=True)
    login(page, server.base, username, USERS[username][1])
    return page


def press(page, selector: str) -> None:
    """Click a button that submits a form and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def fill_registration(page, cnic: str, **overrides) -> None:
    data = {**PERSON, **overrides}
    page.fill("#cnic", cnic)
    for name in ("name_en", "name_ur", "relative_name_en", "relative_name_ur", "date_of_birth", "address_en",
                 "address_ur", "census_block", "family_number"):
        page.fill(f"#{name}", data[name])
    page.select_option("#relation", data["relation"])
    page.select_option("#gender", data["gender"])


def register(page, sim, cnic: str, person: str, *, shots: str | None = None) -> str:
    """Start a registration on the form, capture every finger of PERSON, record a face exception, submit; returns the
    banner's text."""
    fill_registration(page, cnic)
    press(page, "#start-registration")
    if shots:
        screenshot(page, f"{shots}-capture")
    for finger in FINGERS:
        assert page.inner_text("#instruction") == f"Place the {LABELS[finger]} on the scanner"
        status, body = sim.post("/api/sim/fingerprint", {"person": person, "finger": finger})
        assert status == 200, body
        press(page, "#capture-next")
        assert page.get_attribute(f"#pos-{finger}", "data-status") == "accepted", page.inner_text("#positions")
        assert int(page.get_attribute("#quality-meter", "value")) > 0
    assert "face" in page.inner_text("#instruction").lower()
    assert sim.post("/api/sim/face", {"image": photo_base64()})[0] == 200
    page.click("#open-exception")
    page.select_option("#exception-position", "face")
    page.select_option("#exception-reason", "other")
    press(page, "#record-exception")
    assert page.get_attribute("#pos-face", "data-status") == "exception"
    if shots:
        screenshot(page, f"{shots}-ready")
    press(page, "#submit-registration")
    return page.inner_text("#decision")


def test_register_twice_then_the_registrar_decides_duplicate(browser, server, sim):
    officer = signed_in(browser, server, "regofficer")
    assert officer.url.endswith("/register")  # the registration officer's home screen
    screenshot(officer, "en-register")
    # a typing mistake: the gender does not match the CNIC's gender digit, shown at the field
    fill_registration(officer, FIRST_CNIC, gender="male")
    press(officer, "#start-registration")
    assert "gender male does not match the CNIC's gender digit" in officer.inner_text("#gender-error")
    assert officer.input_value("#name_en") == PERSON["name_en"]
    screenshot(officer, "en-register-error")

    assert register(officer, sim, FIRST_CNIC, "browser-saima", shots="en-registration") == "ENROLLED"
    screenshot(officer, "en-enrolled")
    press(officer, "#lang-ur")  # the same screen in Urdu: right to left, the CNIC left to right
    assert officer.get_attribute("html", "dir") == "rtl" and officer.get_attribute("html", "lang") == "ur"
    assert officer.inner_text("#decision") == "اندراج ہو گیا"
    cnic_cell = officer.locator("#registrant td.mono").first
    assert cnic_cell.inner_text() == FIRST_CNIC and cnic_cell.evaluate("e => getComputedStyle(e).direction") == "ltr"
    assert "Amiri" in officer.evaluate("getComputedStyle(document.body).fontFamily")
    screenshot(officer, "ur-enrolled")
    press(officer, "#lang-en")

    press(officer, "#next-registration")
    assert register(officer, sim, SECOND_CNIC, "browser-saima") == "SENT TO ADJUDICATION"
    assert officer.inner_text("#candidate-count").startswith("1 possible duplicate on the roll")
    assert FIRST_CNIC not in officer.content(), "the officer is not shown who the candidate is"
    screenshot(officer, "en-sent-to-adjudication")

    registrar = signed_in(browser, server, "registrar")
    assert registrar.url.endswith("/adjudication")  # the registrar's home screen: the queue
    rows = registrar.locator("#queue tbody tr")
    assert rows.count() == 1 and SECOND_CNIC in rows.first.inner_text()
    screenshot(registrar, "en-adjudication-queue")
    with registrar.expect_navigation():
        rows.first.locator("a").click()
    candidate = registrar.locator("#candidate-1")
    assert candidate.get_attribute("data-cnic") == FIRST_CNIC
    assert "Saima Bibi" in candidate.inner_text() and "pending" in candidate.locator(".roll-status").inner_text()
    evidence = registrar.locator("#evidence-1 tr.finger-evidence")
    assert evidence.count() >= 1
    matched = {tuple(evidence.nth(i).locator("td").all_inner_texts()[:2]) for i in range(evidence.count())}
    assert ("right thumb", "right thumb") in matched or ("left index finger", "left index finger") in matched
    photo = registrar.locator("#photo-face")
    photo.scroll_into_view_if_needed()
    registrar.wait_for_function("document.getElementById('photo-face').complete")
    assert photo.evaluate("img => img.naturalWidth") == 320, "the exception photo is served to the registrar"
    screenshot(registrar, "en-adjudicate")

    registrar.click("#decide-duplicate")  # no note: the browser does not send the form
    assert registrar.locator("#decision-note:invalid").count() == 1 and registrar.locator("#problem").count() == 0
    registrar.fill("#decision-note", "   ")  # only blanks: the station refuses
    press(registrar, "#decide-duplicate")
    assert "a note explaining the decision is required" in registrar.inner_text("#problem-detail")
    assert registrar.inner_text("#decision") == "POSSIBLE DUPLICATE"
    screenshot(registrar, "en-adjudicate-refused")
    registrar.fill("#decision-note", "Same right thumb and left index finger as the registration of " + FIRST_CNIC)
    press(registrar, "#decide-duplicate")
    assert registrar.locator("#queue-empty").count() == 1
    assert registrar.url.endswith("/adjudication")
    assert re.search(r"duplicate, the registration is refused", registrar.inner_text("main"))
    screenshot(registrar, "en-adjudication-done")

    officer.reload()
    assert officer.inner_text("#decision") == "REFUSED: DUPLICATE"
