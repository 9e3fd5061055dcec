"""The officer's verification screen's form posts (api/ui.py ``act``), through the Flask client: a form value the
station does not know is refused with its reason and records nothing."""
import re

import pytest

from station.audit import log as matchlog
from tests.api.test_idle_sign_out import _sign_in
from tests.support.stations import PASSWORDS


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _entries(station):
    with station.transaction() as s:
        return matchlog.count(s)


def test_an_unknown_finger_is_refused_and_no_attempt_is_recorded(app, station, voters, officer):
    """A finger the form never offers (a crafted post) used to be taken for "the next finger": an attempt on the
    right thumb was captured and logged. Now the station names the problem and nothing is captured."""
    voter = voters.take()
    view = station.polling.start_verification(officer, voter.cnic)
    station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
    browser = app.test_client()
    _sign_in(browser)  # the officer
    before = _entries(station)
    r = browser.post(f"/verify/{view.id}/fingerprint",
                     data={"finger": "nose", "csrf_token": _csrf(browser, f"/verify/{view.id}")})
    assert r.status_code == 302
    page = browser.get(r.headers["Location"]).get_data(as_text=True)
    assert "unknown finger &#39;nose&#39;" in page
    assert _entries(station) == before
    after = station.polling.get_verification(officer, view.id)
    assert after.fingerprint_attempts_left == view.fingerprint_attempts_left and after.state == "IDENTIFIED"


def test_a_match_does_not_show_a_print_quality_it_never_measured(app, station, voters, officer):
    """The station measures NFIQ2 only when a print fails (to tell the officer why): a match showed "Print quality: 0"
    with an empty meter, a score of a print that was good enough. A failed attempt still shows its quality."""
    voter = voters.take()
    view = station.polling.start_verification(officer, voter.cnic)
    browser = app.test_client()
    _sign_in(browser)

    def capture(finger: str) -> str:
        r = browser.post(f"/verify/{view.id}/fingerprint",
                         data={"finger": finger, "csrf_token": _csrf(browser, f"/verify/{view.id}")})
        assert r.status_code == 302
        return browser.get(r.headers["Location"]).get_data(as_text=True)

    other = next(v for v in station.roll.list_voters(polling_station=station.config.station.polling_station)
                 if v.cnic != voter.cnic)
    station.steering.present_fingerprint(officer, other.cnic, view.next_finger)  # someone else's finger
    page = capture(view.next_finger)
    assert 'class="attempt no_match"' in page and 'id="quality-meter"' in page
    failed = station.polling.get_verification(officer, view.id)
    station.steering.present_fingerprint(officer, voter.cnic, failed.next_finger)
    page = capture(failed.next_finger)
    assert station.polling.get_verification(officer, view.id).state == "VERIFIED"
    assert 'class="attempt match"' in page and 'id="quality-meter"' not in page and "Print quality" not in page


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_technicians_test_result_is_text_not_python(app, lang):
    """A device test's measurements were printed as a Python list of dicts ("[{'nfiq2': 44, ...}]"), and the time
    as "ms 647.6" in Urdu: each capture is one line of measurements now, and numbers stay left to right."""
    browser = app.test_client()
    _sign_in(browser, lang, user="tech")
    r = browser.post("/technician/test", data={"kind": "fingerprint", "csrf_token": _csrf(browser, "/technician")})
    page = browser.get(r.headers["Location"]).get_data(as_text=True)
    assert "nfiq2" in page and "[{" not in page and "{&#39;" not in page and "&#39;nfiq2&#39;" not in page
    assert re.search(r'<li>nfiq2 \d+ · minutiae \d+ · capture_ms [\d.]+</li>', page)
    assert re.search(r'<span class="mono" dir="ltr">[\d.]+ ms</span>', page)


def test_urdu_screens_name_states_devices_and_events_in_urdu(app, station, voters, officer):
    """The summary listed verifications by their code names (BALLOT_ISSUED 6), the technician's table said "Ready" and
    "power", its fault list "not_ready", and the auditor's log "ballot_issued": in English letters on the Urdu pages."""
    voter = voters.take()
    station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
    view = station.polling.start_verification(officer, voter.cnic)
    view = station.polling.capture_fingerprint(officer, view.id)
    station.polling.issue_ballot(officer, view.id)
    pages = {}
    for user, path in (("officer", "/summary"), ("tech", "/technician"), ("auditor", "/audit")):
        browser = app.test_client()
        _sign_in(browser, "ur", user=user)
        pages[path] = browser.get(path).get_data(as_text=True)
    for code in ("BALLOT_ISSUED", "ALREADY_VOTED", "NOT_ON_ROLL"):
        assert code not in pages["/summary"]
    assert "بیلٹ جاری" in pages["/summary"]
    technician = pages["/technician"]
    assert ">Ready<" not in technician and ">power<" not in technician and ">not_ready<" not in technician
    assert ">ballot_issued<" not in pages["/audit"] and ">بیلٹ جاری<" in pages["/audit"]
    for code in (">match<", ">BALLOT_ISSUED<", ">VERIFIED<", ">right_thumb<", ">left_thumb<"):  # outcome, mode
        assert code not in pages["/audit"], code
    tech = app.test_client()
    _sign_in(tech, "ur", user="tech")
    r = tech.post("/technician/fault", data={"kind": "camera", "fault": "timeout", "count": "1",
                                             "csrf_token": _csrf(tech, "/technician")})
    flashed = tech.get(r.headers["Location"]).get_data(as_text=True)
    assert "کیمرا پر خرابی" in flashed and "camera پر" not in flashed  # the kind in Urdu, not its code
    tech.post("/technician/fault", data={"kind": "camera", "fault": "none", "count": "1",
                                         "csrf_token": _csrf(tech, "/technician")})


def test_a_form_sent_after_the_session_ended_says_so_and_returns_to_its_page(app, station, voters, officer):
    """Signed out in another tab (or the user's token revoked), a form sent from a page still open landed on the sign-in
    page without a word, what was sent silently dropped, and signing in led to Next voter, not back to the voter."""
    view = station.polling.start_verification(officer, voters.take().cnic)
    browser = app.test_client()
    _sign_in(browser)
    page = f"/verify/{view.id}"
    csrf = _csrf(browser, page)
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 302  # "another tab"
    r = browser.post(f"{page}/fingerprint", data={"csrf_token": csrf, "finger": view.next_finger},
                     headers={"Referer": f"http://localhost{page}"})
    assert r.status_code == 302
    login_page = browser.get(r.headers["Location"]).get_data(as_text=True)
    assert "You were signed out: what you sent was not recorded" in login_page
    assert station.polling.get_verification(officer, view.id).fingerprint_attempts_left == \
        view.fingerprint_attempts_left  # nothing was captured
    r = browser.post("/login", data={"username": "officer", "password": PASSWORDS["officer"][1],
                                     "csrf_token": _csrf(browser, "/")})
    assert r.status_code == 302 and r.headers["Location"].endswith(page)
    sessions = len(app.session_interface.store)
    for _ in range(3):  # visits with no session (a bot, a cross-site form) make none
        app.test_client().post(f"{page}/fingerprint", data={}, headers={"Referer": f"http://localhost{page}"})
    assert len(app.session_interface.store) == sessions
    foreign = app.test_client()  # a referrer from another site is never a place to return to
    foreign.get("/?lang=en")  # a browser with a session (its language), as one whose session ended has
    foreign.post(f"{page}/fingerprint", data={}, headers={"Referer": "http://evil.example/x"})
    r = foreign.post("/login", data={"username": "officer", "password": PASSWORDS["officer"][1],
                                     "csrf_token": _csrf(foreign, "/")})
    assert r.headers["Location"].endswith("/")
    other_role = app.test_client()  # the technician signing in where the officer's page was: their own home
    other_role.get("/?lang=en")
    other_role.post(f"{page}/fingerprint", data={}, headers={"Referer": f"http://localhost{page}"})
    r = other_role.post("/login", data={"username": "tech", "password": PASSWORDS["tech"][1],
                                        "csrf_token": _csrf(other_role, "/")})
    assert not r.headers["Location"].endswith(page)


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_devices_table_shows_a_device_s_last_error(app, station, voters, officer, lang):
    """The operator guide says the Devices table shows each device's status and its last error; after a capture
    failed ("fingerprint scanner disconnected during capture") the table showed the scanner ready, with no error."""
    voter = voters.take()
    view = station.polling.start_verification(officer, voter.cnic)
    scanner = station.devices.open("fingerprint")
    scanner.inject_fault("disconnect")
    browser = app.test_client()
    _sign_in(browser, lang)  # the officer's capture fails
    r = browser.post(f"/verify/{view.id}/fingerprint",
                     data={"finger": view.next_finger, "csrf_token": _csrf(browser, f"/verify/{view.id}")})
    assert r.status_code == 302
    tech_browser = app.test_client()
    _sign_in(tech_browser, lang, user="tech")
    page = tech_browser.get("/technician").get_data(as_text=True)
    row = re.search(r'<tr id="device-fingerprint">.*?</tr>', page, re.S).group(0)
    assert 'id="last-error-fingerprint"' in row and "disconnected" in row, row
    assert not re.search(r'<tr id="device-camera">.*?last-error', page, re.S)  # only the device that failed
