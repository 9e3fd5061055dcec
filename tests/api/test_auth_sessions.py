"""Attacks on sessions through the API and the UI: a token or cookie that outlives its logout, a disabled user's live
token, the bearer token inside the UI cookie, many usernames from one address. Each test is the attack; it fails for
the attacker now. A station of its own (no roll): logouts and revocations here must not touch the shared one."""
import re

import pytest

from tests.support.stations import PASSWORDS, station_with_users

USERS = ("officer", "auditor", "tech")
VOTER = "/api/voters/12345-1234567-1"  # any authenticated GET: 404 (not on the roll) once past authentication


@pytest.fixture(scope="module")
def small_station(tmp_path_factory, make_database_url):
    yield from station_with_users(tmp_path_factory.mktemp("auth-home"), make_database_url(), USERS)


@pytest.fixture
def app(small_station):
    from api import create_app

    return create_app(small_station)  # a throttle and a session store of its own per test


def _token(client, username="officer"):
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORDS[username][1]})
    assert r.status_code == 200, r.json
    return r.json["token"]


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _csrf(client, path="/"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _ui_login(client, username="officer"):
    r = client.post("/login", data={"username": username, "password": PASSWORDS[username][1],
                                    "csrf_token": _csrf(client)})
    assert r.status_code == 302
    return client.get_cookie("station_session").value


def test_logout_revokes_the_bearer_token(app):
    client = app.test_client()
    token = _token(client)
    assert client.get(VOTER, headers=_bearer(token)).status_code == 404
    r = client.post("/api/auth/logout", headers=_bearer(token))
    assert r.status_code == 200 and r.json == {"logged_out": True}
    r = client.get(VOTER, headers=_bearer(token))  # the attacker replays the token after the officer logged out
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert client.post("/api/auth/logout", headers=_bearer(token)).status_code == 401
    other = _token(client)  # logging out one token leaves the user's other tokens alone
    assert client.get(VOTER, headers=_bearer(other)).status_code == 404


def test_logout_refuses_unknown_fields(app):
    client = app.test_client()
    token = _token(client)
    assert client.post("/api/auth/logout", json={"no_such_field": 1}, headers=_bearer(token)).status_code == 400
    assert client.get(VOTER, headers=_bearer(token)).status_code == 404  # a refused logout changes nothing


def test_the_ui_cookie_holds_an_opaque_id_not_the_bearer_token(app, small_station):
    client = app.test_client()
    cookie = _ui_login(client)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)  # 32 random bytes, nothing else
    r = client.get(VOTER, headers=_bearer(cookie))  # the cookie's value is no bearer token
    assert r.status_code == 401
    assert client.get("/next").status_code == 200


def test_old_cookie_after_ui_logout_is_signed_out(app):
    client = app.test_client()
    cookie = _ui_login(client)
    token = _csrf(client, "/next")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get_cookie("station_session").value != cookie  # a new id after sign-out
    attacker = app.test_client()
    attacker.set_cookie("station_session", cookie)  # a copy of the cookie taken before the logout
    r = attacker.get("/next")
    assert r.status_code == 302 and r.headers["Location"].endswith("/")
    assert attacker.get(VOTER).status_code == 401


def test_the_session_id_changes_at_sign_in(app):
    client = app.test_client()
    _csrf(client, "/?lang=ur")  # a choice of language: the first thing a signed-out visitor keeps on the server
    planted = client.get_cookie("station_session").value  # an anonymous session id an attacker could plant
    _ui_login(client)
    assert client.get_cookie("station_session").value != planted
    attacker = app.test_client()
    attacker.set_cookie("station_session", planted)
    assert attacker.get("/next").status_code == 302


def test_api_logout_with_the_browser_session_ends_it(app):
    client = app.test_client()
    cookie = _ui_login(client)
    csrf = _csrf(client, "/next")
    assert client.post("/api/auth/logout").status_code == 403  # CSRF still applies
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    attacker = app.test_client()
    attacker.set_cookie("station_session", cookie)
    assert attacker.get(VOTER).status_code == 401
    assert client.get("/next").status_code == 302


def test_a_disabled_user_cannot_log_in_and_their_live_token_and_session_stop(app, small_station):
    client, browser = app.test_client(), app.test_client()
    token = _token(client, "auditor")
    _ui_login(browser, "auditor")
    assert browser.get("/audit").status_code == 200
    assert small_station.accounts.disable_user("auditor") >= 2
    try:
        assert client.get("/api/audit/verify", headers=_bearer(token)).status_code == 401
        assert browser.get("/audit").status_code == 302
        r = client.post("/api/auth/login", json={"username": "auditor", "password": PASSWORDS["auditor"][1]})
        assert r.status_code == 401 and r.json["detail"] == "wrong username or password"
    finally:
        small_station.accounts.enable_user("auditor")
    assert client.get("/api/audit/verify", headers=_bearer(token)).status_code == 401  # revoked for good
    assert _token(client, "auditor")


def test_revoke_ends_every_token_and_session_of_one_user_only(app, small_station):
    client, browser = app.test_client(), app.test_client()
    tokens = [_token(client, "tech") for _ in range(2)]
    _ui_login(browser, "tech")
    bystander = _token(client, "officer")
    assert small_station.accounts.revoke_tokens("tech") == 3
    for token in tokens:
        assert client.get("/api/devices", headers=_bearer(token)).status_code == 401
    assert browser.get("/technician").status_code == 302
    assert client.get(VOTER, headers=_bearer(bystander)).status_code == 404
    assert _token(client, "tech")  # revocation is not a ban


def test_many_usernames_from_one_address_are_throttled(app):
    client = app.test_client()
    for i in range(20):  # one password tried on many usernames: never 5 failures for any one of them
        r = client.post("/api/auth/login", json={"username": f"user{i}", "password": "Summer2024!"},
                        environ_base={"REMOTE_ADDR": "192.0.2.66"})
        assert r.status_code == 401
    r = client.post("/api/auth/login", json={"username": "officer", "password": PASSWORDS["officer"][1]},
                    environ_base={"REMOTE_ADDR": "192.0.2.66"})
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 15 * 60
    assert "192.0.2.66" in r.json["detail"]
    page = client.post("/login", data={"username": "officer", "password": PASSWORDS["officer"][1],
                                       "csrf_token": _csrf(client)}, environ_base={"REMOTE_ADDR": "192.0.2.66"})
    assert page.status_code == 429
    r = client.post("/api/auth/login", json={"username": "officer", "password": PASSWORDS["officer"][1]},
                    environ_base={"REMOTE_ADDR": "192.0.2.67"})  # another address is not affected
    assert r.status_code == 200


def test_plain_http_session_cookie_is_httponly_strict_and_no_hsts(app):
    client = app.test_client()
    _csrf(client)
    r = client.post("/login", data={"username": "officer", "password": PASSWORDS["officer"][1],
                                    "csrf_token": _csrf(client)})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert "Strict-Transport-Security" not in r.headers


def test_an_attacker_cannot_lock_a_user_out_from_another_address(app):
    attacker, user = app.test_client(), app.test_client()
    for name in ("tech", " TECH", "tech", "Tech", "tech", "tech"):
        r = attacker.post("/api/auth/login", json={"username": name, "password": "Summer2024!"},
                          environ_base={"REMOTE_ADDR": "192.0.2.66"})
        assert r.status_code in (401, 429)
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 15 * 60  # the attacker's address is locked
    r = attacker.post("/api/auth/login", json={"username": "tech", "password": PASSWORDS["tech"][1]},
                      environ_base={"REMOTE_ADDR": "192.0.2.66"})
    assert r.status_code == 429
    r = user.post("/api/auth/login", json={"username": "tech", "password": PASSWORDS["tech"][1]},
                  environ_base={"REMOTE_ADDR": "192.0.2.7"})  # the real user, at their own desk
    assert r.status_code == 200
    page = user.post("/login", data={"username": "tech", "password": PASSWORDS["tech"][1], "csrf_token": _csrf(user)},
                     environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert page.status_code == 302


def test_a_flood_of_anonymous_visits_does_not_break_a_sign_in_started_earlier(small_station):
    from api import create_app
    from station.security.sessions import SessionStore

    store = SessionStore(idle_s=small_station.config.server.session_idle_minutes * 60,
                         max_sessions=50)  # the store's bound (5,000), made small
    app = create_app(small_station, sessions=store)
    user = app.test_client()
    token = _csrf(user)  # the officer opens the sign-in page ...
    for path in ("/", "/?lang=ur"):  # ... and one client sends more cookie-less visits than the store keeps
        for _ in range(60):
            assert app.test_client().get(path, environ_base={"REMOTE_ADDR": "192.0.2.66"}).status_code == 200
        if path == "/":
            assert len(store) == 0  # the sign-in page keeps nothing on the server
    r = user.post("/login", data={"username": "officer", "password": PASSWORDS["officer"][1], "csrf_token": token},
                  environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert r.status_code == 302 and user.get("/next").status_code == 200


def test_the_sign_in_forms_csrf_token_is_bound_to_its_browser(app):
    victim, attacker = app.test_client(), app.test_client()
    attackers_token = _csrf(attacker)  # valid, but for the attacker's browser
    for token in (attackers_token, "", "x" * 64):
        r = victim.post("/login", data={"username": "officer", "password": PASSWORDS["officer"][1],
                                        "csrf_token": token})
        assert r.status_code == 403
    _csrf(victim)
    cookie = victim.get_cookie("station_csrf")
    assert cookie.http_only and cookie.same_site == "Strict"
