"""The officer's verification screen's form posts (api/ui.py ``act``), through the Flask client: a form value the
station does not know is refused with its reason and records nothing."""
import re

from station.audit import log as matchlog
from tests.api.test_idle_sign_out import _sign_in


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
