"""A signed-in screen left unattended: after ``server.session_idle_minutes`` without a request the browser session
ends, the next page lands on the sign-in page saying why (English and Urdu), and the API token the session held is
revoked on the server. The time is an injected clock, never a sleep. A station of its own, with an idle limit of 7
minutes (not the default), so that the message's number comes from the configuration."""
import re
import time

import pytest

from station.errors import AuthenticationFailed
from tests.support.stations import PASSWORDS, build_station

IDLE_MINUTES = 7


@pytest.fixture(scope="module")
def idle_station(tmp_path_factory, make_database_url):
    st = build_station(tmp_path_factory.mktemp("idle-home"), make_database_url(),
                       server={"session_idle_minutes": IDLE_MINUTES})
    st.init()
    role, password = PASSWORDS["officer"]
    st.accounts.add_user("officer", password, role)
    yield st
    st.close()


@pytest.fixture
def clock():
    return [1_000.0]


@pytest.fixture
def app(idle_station, clock):
    from api import create_app

    return create_app(idle_station, clock=lambda: clock[0])


def _sign_in(client, lang="en", user="officer"):
    page = client.get(f"/?lang={lang}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": user, "password": PASSWORDS[user][1], "csrf_token": csrf})
    assert r.status_code == 302
    return client.get_cookie("station_session").value


def test_an_unattended_session_ends_after_the_idle_limit_and_its_token_is_revoked(app, idle_station, clock):
    browser = app.test_client()
    sid = _sign_in(browser)
    token = app.session_interface.store.load(sid)["token"]  # what the session holds on the server
    clock[0] += IDLE_MINUTES * 60 - 1
    assert browser.get("/next").status_code == 200  # just under the limit: still signed in
    clock[0] += IDLE_MINUTES * 60 + 1  # the screen left alone past the limit
    r = browser.get("/next")
    assert r.status_code == 302 and r.headers["Location"].endswith("/")
    page = browser.get("/").get_data(as_text=True)
    assert f"{IDLE_MINUTES} minutes without use" in page and 'id="username"' in page
    with pytest.raises(AuthenticationFailed):
        idle_station.accounts.authenticate(token)  # revoked on the server, not merely forgotten by the browser
    r = app.test_client().get("/api/voters/12345-1234567-1", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert f"{IDLE_MINUTES} minutes" not in browser.get("/").get_data(as_text=True)  # said once
    attacker = app.test_client()  # a copy of the old cookie opens nothing either
    attacker.set_cookie("station_session", sid)
    assert attacker.get("/next").status_code == 302


def test_a_signed_in_page_tells_the_browser_when_the_server_ends_it(app):
    """The page itself leaves for the sign-in page once the idle limit has passed (api/static/app.js; driven in a real
    browser by tests/acceptance/test_ui_idle_browser.py), so that a voter's details do not stay on an unattended
    screen until someone touches it. Only a signed-in page carries the limit."""
    browser = app.test_client()
    assert "data-idle-seconds" not in browser.get("/").get_data(as_text=True)
    _sign_in(browser)
    page = browser.get("/next").get_data(as_text=True)
    body = re.search(r"<body[^>]*>", page).group(0)
    assert f'data-idle-seconds="{IDLE_MINUTES * 60}"' in body and 'data-idle-url="/"' in body


def test_the_idle_sign_out_message_is_in_urdu_for_an_urdu_screen(app, clock):
    browser = app.test_client()
    _sign_in(browser, lang="ur")
    clock[0] += IDLE_MINUTES * 60 + 1
    assert browser.get("/next").status_code == 302
    page = browser.get("/").get_data(as_text=True)
    assert '<html lang="ur" dir="rtl">' in page
    message = re.search(r'<div class="banner[^"]*"[^>]*>([^<]*)</div>', page).group(1)
    assert str(IDLE_MINUTES) in message and "منٹ" in message and "minutes" not in message


def test_a_screen_in_use_stays_signed_in_past_the_idle_limit(app, clock):
    browser = app.test_client()
    _sign_in(browser)
    for _ in range(4):  # a request every (limit - 1) minutes: four times the limit in all
        clock[0] += (IDLE_MINUTES - 1) * 60
        assert browser.get("/next").status_code == 200


def test_an_api_call_of_an_idle_browser_session_is_refused_and_the_next_page_says_why(app, clock):
    browser = app.test_client()
    _sign_in(browser)
    clock[0] += IDLE_MINUTES * 60 + 1
    assert browser.get("/api/voters/12345-1234567-1").status_code == 401
    page = browser.get("/").get_data(as_text=True)
    assert f"{IDLE_MINUTES} minutes without use" in page


def test_a_laptop_suspended_past_the_idle_limit_wakes_up_signed_out(idle_station, monkeypatch):
    """A screen whose laptop lid was closed for longer than the idle limit is signed out when it is opened again: the
    app's own clock (no ``clock`` given, as `station serve` builds it) must count the time the machine lay suspended.
    On Linux CLOCK_BOOTTIME does, CLOCK_MONOTONIC (time.monotonic) does not. No test can suspend the machine: this
    one moves what ``time.clock_gettime(CLOCK_BOOTTIME)`` answers forward by the suspension and leaves every other
    clock alone, so it shows only that the default clock reads CLOCK_BOOTTIME on Linux (the station's platform), not
    that the kernel counts suspended time in it (clock_gettime(2) says it does)."""
    from api import create_app

    browser = create_app(idle_station).test_client()
    _sign_in(browser)
    assert browser.get("/next").status_code == 200
    real = time.clock_gettime
    suspended_s = (IDLE_MINUTES + 60) * 60  # the lid closed for an hour past the limit

    def after_suspension(clock_id):
        return real(clock_id) + (suspended_s if clock_id == time.CLOCK_BOOTTIME else 0)

    monkeypatch.setattr(time, "clock_gettime", after_suspension)
    assert browser.get("/next").status_code == 302
    assert f"{IDLE_MINUTES} minutes without use" in browser.get("/").get_data(as_text=True)


def test_a_one_minute_limit_is_said_in_the_singular(tmp_path, make_database_url):
    """The notice takes the number's form ("1 minute", not "1 minutes"); Urdu's noun is the same for both."""
    from api import create_app

    st = build_station(tmp_path / "home", make_database_url(), server={"session_idle_minutes": 1})
    st.init()
    st.accounts.add_user("officer", PASSWORDS["officer"][1], PASSWORDS["officer"][0])
    try:
        clock = [1_000.0]
        app = create_app(st, clock=lambda: clock[0])
        for lang, said in (("en", "after 1 minute without use"), ("ur", "1 منٹ تک استعمال نہ ہونے پر")):
            browser = app.test_client()
            _sign_in(browser, lang=lang)
            clock[0] += 61
            assert browser.get("/next").status_code == 302
            page = browser.get("/").get_data(as_text=True)
            assert said in page and "1 minutes" not in page
    finally:
        st.close()
