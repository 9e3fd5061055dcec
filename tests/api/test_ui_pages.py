"""The UI and the hardening in-process: login throttling (429 + Retry-After), CSRF on the browser session, security
headers, the language switch, roll search with Urdu letter variants, the end-of-day summary, the catalogue."""
import re

import pytest

from tests.support.stations import PASSWORDS


def _csrf(client, path="/"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _ui_login(client, username):
    r = client.post("/login", data={"username": username, "password": PASSWORDS[username][1], "csrf_token": _csrf(client)})
    assert r.status_code == 302


def test_login_lockout_after_five_failures_is_429_with_retry_after(station):
    """Five failures for one username lock that username from that address only (the test client's 127.0.0.1): the
    same username from another address, and another username from this one, still sign in."""
    from api import create_app

    client = create_app(station).test_client()  # a throttle of its own: the shared app's users stay unlocked
    for _ in range(5):
        assert client.post("/api/auth/login", json={"username": "auditor", "password": "wrong-pass"}).status_code == 401
    r = client.post("/api/auth/login", json={"username": "auditor", "password": PASSWORDS["auditor"][1]})
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    assert client.post("/api/auth/login", json={"username": "officer",
                                                "password": PASSWORDS["officer"][1]}).status_code == 200
    page = client.post("/login", data={"username": "auditor", "password": "x", "csrf_token": _csrf(client)})
    assert page.status_code == 429 and "Retry-After" in page.headers
    r = client.post("/api/auth/login", json={"username": "auditor", "password": PASSWORDS["auditor"][1]},
                    environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert r.status_code == 200


def test_throttle_window_expires():
    from station.security.throttle import LoginThrottle, TooManyAttempts

    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window_s=60, clock=lambda: now[0])
    throttle.failed("Bob"), throttle.failed("bob ")
    with pytest.raises(TooManyAttempts) as err:
        throttle.check("bob")
    assert err.value.retry_after_s == 60
    now[0] = 61
    throttle.check("bob")


def test_browser_session_needs_csrf_on_unsafe_api_calls(app, station):
    client = app.test_client()
    _ui_login(client, "officer")
    cnic = "12345-1234567-1"  # not on the roll: the call changes no voter
    assert client.get(f"/api/voters/{cnic}").status_code == 404  # safe method: the cookie is enough
    r = client.post("/api/verifications", json={"cnic": cnic})
    assert r.status_code == 403 and "CSRF" in r.json["detail"]
    token = _csrf(client, "/next")
    assert client.post("/api/verifications", json={"cnic": cnic}, headers={"X-CSRF-Token": token}).status_code == 201
    assert client.post("/login", data={"username": "officer", "password": "x"}).status_code == 403
    assert client.post("/next", data={"cnic": cnic}).status_code == 403


def test_security_headers(client):
    for path in ("/", "/api/health", "/static/app.js"):
        h = client.get(path).headers
        csp = h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
    page = client.get("/").get_data(as_text=True)
    assert "<script>" not in page and " style=" not in page and "http://" not in page and "https://" not in page


def test_language_switch_is_remembered_and_right_to_left(client):
    assert '<html lang="en" dir="ltr">' in client.get("/").get_data(as_text=True)
    page = client.get("/?lang=ur").get_data(as_text=True)
    assert '<html lang="ur" dir="rtl">' in page and "سائن ان" in page
    assert '<html lang="ur" dir="rtl">' in client.get("/").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in client.get("/?lang=en").get_data(as_text=True)
    for name in ("nastaliq-regular.ttf", "nastaliq-bold.ttf", "amiri-regular.ttf"):  # Nastaliq, and Naskh
        font = client.get(f"/fonts/{name}")
        assert font.status_code == 200 and font.mimetype == "font/ttf" and font.data[:4] in (b"\x00\x01\x00\x00",
                                                                                             b"OTTO", b"true")
    assert client.get("/fonts/LICENSE.txt").status_code == 200
    assert b"Noto" in client.get("/fonts/noto-LICENSE.txt").data
    css = client.get("/static/app.css").get_data(as_text=True)
    assert re.search(r'body\.lang-ur, \.ur \{ font-family: "Noto Nastaliq Urdu", "Amiri"', css)


def test_a_first_visit_takes_the_language_from_accept_language(app):
    urdu_browser = app.test_client()
    page = urdu_browser.get("/", headers={"Accept-Language": "ur-PK,ur;q=0.9,en;q=0.8"}).get_data(as_text=True)
    assert '<html lang="ur" dir="rtl">' in page
    assert '<html lang="en" dir="ltr">' in urdu_browser.get("/?lang=en").get_data(as_text=True)  # a choice wins
    assert '<html lang="en" dir="ltr">' in urdu_browser.get("/", headers={"Accept-Language": "ur"}).get_data(
        as_text=True)
    other = app.test_client().get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in other  # neither language asked for: English


def test_every_message_has_an_urdu_translation():
    from babel.messages.pofile import read_po

    from api.i18n import SOURCE

    with (SOURCE / "ur" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    untranslated = [m.id for m in catalog if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    assert len(catalog) > 100 and not untranslated


def test_roll_search_by_cnic_and_by_name_in_either_script(station, officer):
    from station.roll.search import roman_skeleton

    voter = station.roll.list_voters(limit=1, polling_station=station.config.station.polling_station)[0]
    assert voter.cnic in [v.cnic for v in station.roll.search(officer, voter.cnic[6:13])]
    assert voter.cnic in [v.cnic for v in station.roll.search(officer, voter.name_en.upper())]
    # typed with Arabic letters (yeh, kaf, heh) instead of the Urdu ones
    arabic = voter.name_ur.replace("ی", "ي").replace("ک", "ك").replace("ہ", "ه")
    assert voter.cnic in [v.cnic for v in station.roll.search(officer, arabic)]
    # a CNIC typed on an Urdu keyboard (Extended Arabic-Indic digits) or an Arabic one, whole or in part, as look-up
    # takes it
    urdu, arabic = (voter.cnic.translate(str.maketrans("0123456789", digits)) for digits in ("۰۱۲۳۴۵۶۷۸۹", "٠١٢٣٤٥٦٧٨٩"))
    for typed in (urdu, arabic, urdu[6:13]):
        assert voter.cnic in [v.cnic for v in station.roll.search(officer, typed)], typed
    assert roman_skeleton("Muhammad") == roman_skeleton("Mohammed")
    from station.errors import NotPermitted
    from station.security.users import Principal

    with pytest.raises(NotPermitted):
        station.roll.search(Principal("tech", "technician"), "a")


def test_summary_counts_ballots_by_hour_gender_and_mode(client, tokens, voters):
    h = {"Authorization": f"Bearer {tokens['presiding']}"}
    voter = voters.take()
    sid = client.post("/api/verifications", json={"cnic": voter.cnic}, headers=h).json["id"]
    client.post(f"/api/verifications/{sid}/exception", json={"reason": "worn_prints"}, headers=h)
    before = client.get("/api/summary", headers=h).json
    assert client.post(f"/api/verifications/{sid}/ballot", headers=h).status_code == 200
    after = client.get("/api/summary", headers=h).json
    assert after["voted"]["total"] == before["voted"]["total"] + 1
    assert after["voted"][voter.gender] == before["voted"][voter.gender] + 1
    assert after["ballots_by_mode"]["exception"] == before["ballots_by_mode"]["exception"] + 1
    assert sum(row["total"] for row in after["by_hour"]) == after["voted"]["total"]
    assert after["exceptions_by_reason"]["worn_prints"] >= 1


def test_validation_errors_name_the_field(client, tokens):
    h = {"Authorization": f"Bearer {tokens['officer']}"}
    r = client.post("/api/verifications", json={"cnic": "12345-1234567-1", "extra": 1}, headers=h)
    assert r.status_code == 400 and "extra" in r.json["detail"]
    r = client.post("/api/sim/fault", json={"kind": "camera", "fault": "busy", "count": 0}, headers=h)
    assert r.status_code == 400 and "count" in r.json["detail"]
    assert client.get("/api/audit/log?limit=99999999999999999999",
                      headers={"Authorization": f"Bearer {tokens['auditor']}"}).status_code == 400


@pytest.mark.parametrize("path", ["/%5Cevil.example/x", "/%2F%2Fevil.example/x", "/%5C%5Cevil.example",
                                  "/%5C/evil.example"])
def test_the_language_link_of_a_404_never_leaves_the_station(client, path):
    r = client.get(path)  # browsers read /\evil.example and //evil.example as http://evil.example
    assert r.status_code == 404
    link = re.search(r'<a href="([^"]*)" id="lang-ur"', r.get_data(as_text=True)).group(1)
    assert link == "/?lang=ur"


def test_the_language_link_keeps_the_screen_and_its_query(client):
    page = client.get("/?lang=en&next=1").get_data(as_text=True)
    assert re.search(r'<a href="([^"]*)" id="lang-ur"', page).group(1) == "/?next=1&amp;lang=ur"
