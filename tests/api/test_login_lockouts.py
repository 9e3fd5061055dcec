"""Device cookies against the distributed lockout, and the technician's view and clearing of lockouts.

An attacker holding many addresses can lock a username out for everyone (50 failures from every address within 15
minutes, README "The API"). A browser or API client that signed in as that user before holds a signed device cookie
(``station_device``) and still signs in: its attempts are limited by their own count only (5 failures lock that
cookie). Each test is the attack; a station of its own (no roll), an app (throttle, secret key) of its own per test."""
import logging
import re

import jsonschema
import pytest

from tests.support.stations import PASSWORDS, station_with_users

pytestmark = pytest.mark.slow  # many logins, each a password hash: the quick loop keeps tests/station/security/

USERS = ("officer", "tech", "auditor", "presiding")
DEVICE_COOKIE = "station_device"
OFFICE = "192.0.2.7"  # the real officer's desk
ATTACKERS = [f"198.51.100.{i}" for i in range(12)]  # the distributed guesser: more than 10 addresses
WINDOW_S = 15 * 60  # README: "within 15 minutes"
WRONG = "Summer2024!"  # the password the attacker tries; never shown back


@pytest.fixture(scope="module")
def small_station(tmp_path_factory, make_database_url):
    yield from station_with_users(tmp_path_factory.mktemp("lockout-home"), make_database_url(), USERS)


@pytest.fixture
def app(small_station):
    from api import create_app

    return create_app(small_station)


def _login(client, username, password, address, **kwargs):
    return client.post("/api/auth/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address}, **kwargs)


def _csrf(client, path="/", address="127.0.0.1"):
    page = client.get(path, environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _ui_login(client, username, address, password=None):
    return client.post("/login", data={"username": username, "password": password or PASSWORDS[username][1],
                                       "csrf_token": _csrf(client, address=address)},
                       environ_base={"REMOTE_ADDR": address})


def _sign_out(browser):
    page = browser.get("/next").get_data(as_text=True)  # any signed-in page carries the session's CSRF token
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 302


def _distributed_lockout(app, username="officer"):
    """Five wrong passwords for ``username`` from each of twelve addresses: 60 tries, the username locked for
    everyone once 50 have failed."""
    attacker = app.test_client()
    for address in ATTACKERS:
        for _ in range(5):
            assert _login(attacker, username, WRONG, address).status_code in (401, 429)


def _device_cookie(client) -> str:
    cookie = client.get_cookie(DEVICE_COOKIE)
    assert cookie is not None, "no device cookie after a successful sign-in"
    return cookie.value


def _bearer(app, username, address="192.0.2.200"):
    r = _login(app.test_client(), username, PASSWORDS[username][1], address)
    assert r.status_code == 200, r.get_data(as_text=True)
    return {"Authorization": f"Bearer {r.json['token']}"}


def test_the_real_officer_holding_a_device_cookie_signs_in_through_a_distributed_lockout(app):
    api, browser = app.test_client(), app.test_client()
    assert _login(api, "officer", PASSWORDS["officer"][1], OFFICE).status_code == 200  # an earlier sign-in ...
    assert _ui_login(browser, "officer", OFFICE).status_code == 302
    _sign_out(browser)
    _device_cookie(api), _device_cookie(browser)  # ... left each client its device cookie
    _distributed_lockout(app)
    r = _login(app.test_client(), "officer", PASSWORDS["officer"][1], "192.0.2.99")  # no device cookie: untrusted
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= WINDOW_S
    r = _login(app.test_client(), "officer", PASSWORDS["officer"][1], OFFICE)  # the officer's desk, a new client
    assert r.status_code == 429
    r = _login(api, "officer", PASSWORDS["officer"][1], OFFICE)  # the officer's API client, with its cookie
    assert r.status_code == 200 and r.json["username"] == "officer"
    page = _ui_login(browser, "officer", OFFICE)  # and the officer's browser
    assert page.status_code == 302 and browser.get("/next").status_code == 200


def test_a_device_cookie_outlives_a_restart_of_the_server(small_station):
    """A power cut restarts the server, which clears the lockouts; a guesser then locks the username again at once.
    The officer's device cookie must still be trusted by the new process (its signing key is kept in the keys
    folder, not made at random at each start)."""
    from api import create_app

    before = create_app(small_station).test_client()
    assert _login(before, "officer", PASSWORDS["officer"][1], OFFICE).status_code == 200
    restarted = create_app(small_station)
    _distributed_lockout(restarted)
    officer = restarted.test_client()
    officer.set_cookie(DEVICE_COOKIE, _device_cookie(before))  # the browser kept its cookie over the restart
    r = _login(officer, "officer", PASSWORDS["officer"][1], OFFICE)
    assert r.status_code == 200, r.get_data(as_text=True)


def test_a_trusted_device_is_not_refused_by_the_address_locks(app):
    browser = app.test_client()
    assert _ui_login(browser, "officer", OFFICE).status_code == 302
    _sign_out(browser)
    shared = ATTACKERS[0]  # a guesser behind the same address as the officer (one NAT) ...
    attacker = app.test_client()
    for _ in range(5):  # ... locks "officer" from that address,
        assert _login(attacker, "officer", WRONG, shared).status_code == 401
    for i in range(15):  # ... and the address itself (20 failures over every username)
        assert _login(attacker, f"user{i}", WRONG, shared).status_code == 401
    assert _login(app.test_client(), "tech", PASSWORDS["tech"][1], shared).status_code == 429  # the address is locked
    assert _login(app.test_client(), "officer", PASSWORDS["officer"][1], shared).status_code == 429
    assert _ui_login(browser, "officer", shared).status_code == 302  # the officer's browser is not


def test_a_forged_or_foreign_device_cookie_is_untrusted(app, small_station):
    from api import create_app

    elsewhere = create_app(small_station, secret_key=b"another station's cookie key....").test_client()
    owner, colleague = app.test_client(), app.test_client()
    assert _login(owner, "officer", PASSWORDS["officer"][1], OFFICE).status_code == 200
    assert _login(colleague, "tech", PASSWORDS["tech"][1], OFFICE).status_code == 200
    assert _login(elsewhere, "officer", PASSWORDS["officer"][1], OFFICE).status_code == 200  # another key signed it
    genuine = _device_cookie(owner)
    issued, nonce, mac = genuine.split(".")  # the documented format: issued.nonce.mac (api/device_cookie.py)

    def changed(part: str) -> str:  # one character changed, still in the cookie's alphabet
        return part[:-1] + ("B" if part[-1] == "A" else "A")

    forged = {
        "nonce changed": f"{issued}.{changed(nonce)}.{mac}",
        "signature changed": f"{issued}.{nonce}.{changed(mac)}",
        "issue time changed": f"{int(issued) + 1}.{nonce}.{mac}",
        "another user's cookie (tech)": _device_cookie(colleague),
        "signed with another key": _device_cookie(elsewhere),
        "empty": "", "garbage": "x" * 4000, "not ascii": "گ" * 10,
    }
    _distributed_lockout(app)
    for what, value in forged.items():
        client = app.test_client()
        client.set_cookie(DEVICE_COOKIE, value)
        r = _login(client, "officer", PASSWORDS["officer"][1], OFFICE)
        assert r.status_code == 429, f"{what}: {r.status_code}"
    client = app.test_client()
    client.set_cookie(DEVICE_COOKIE, genuine)  # the same request with the genuine cookie passes
    assert _login(client, "officer", PASSWORDS["officer"][1], OFFICE).status_code == 200


def test_a_stolen_device_cookie_is_locked_after_five_failures_and_counts_against_itself_only(app):
    owner = app.test_client()
    assert _login(owner, "officer", PASSWORDS["officer"][1], OFFICE).status_code == 200
    thief = app.test_client()
    thief.set_cookie(DEVICE_COOKIE, _device_cookie(owner))
    for i in range(5):
        assert _login(thief, "officer", f"guess-{i}", "203.0.113.5").status_code == 401
    r = _login(thief, "officer", PASSWORDS["officer"][1], "203.0.113.5")  # the cookie is locked: the right password too
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= WINDOW_S
    r = _login(thief, "officer", PASSWORDS["officer"][1], "203.0.113.6")  # whatever the address
    assert r.status_code == 429
    # the five failures counted against the cookie only: nothing against "officer" or the thief's address
    assert _login(app.test_client(), "officer", PASSWORDS["officer"][1], "203.0.113.5").status_code == 200
    listed = app.test_client().get("/api/auth/lockouts", headers=_bearer(app, "tech")).json["entries"]
    assert [(e["scope"], e["username"], e["address"], e["failures"]) for e in listed] == [
        ("device", "officer", None, 5)]


def test_the_device_cookie_is_httponly_strict_long_lived_and_holds_no_secret(app):
    client = app.test_client()
    r = _login(client, "officer", PASSWORDS["officer"][1], OFFICE)
    header = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith(f"{DEVICE_COOKIE}="))
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Secure" not in header
    assert f"Max-Age={30 * 24 * 60 * 60}" in header  # 30 days
    value = _device_cookie(client)
    for secret in (PASSWORDS["officer"][1], r.json["token"], "officer"):
        assert secret not in value
    assert re.fullmatch(r"[A-Za-z0-9_.~-]+", value)
    https = app.test_client()
    r = _login(https, "officer", PASSWORDS["officer"][1], OFFICE, base_url="https://localhost")
    header = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith(f"{DEVICE_COOKIE}="))
    assert "Secure" in header and "HttpOnly" in header
    browser = app.test_client()
    page = _ui_login(browser, "officer", OFFICE)
    header = next(h for h in page.headers.getlist("Set-Cookie") if h.startswith(f"{DEVICE_COOKIE}="))
    assert "HttpOnly" in header and "SameSite=Strict" in header
    failed = _login(app.test_client(), "officer", WRONG, OFFICE)  # a failed login earns no device cookie
    assert not [h for h in failed.headers.getlist("Set-Cookie") if h.startswith(f"{DEVICE_COOKIE}=")]


def test_one_browser_keeps_a_device_cookie_for_each_of_its_users(app):
    """Officers take turns at one laptop: the second sign-in must not cost the first officer their trust."""
    browser = app.test_client()
    assert _ui_login(browser, "officer", OFFICE).status_code == 302
    _sign_out(browser)
    assert _ui_login(browser, "tech", OFFICE).status_code == 302
    _sign_out(browser)
    _distributed_lockout(app, "officer")
    _distributed_lockout(app, "tech")
    assert _ui_login(browser, "officer", OFFICE).status_code == 302
    _sign_out(browser)
    assert _ui_login(browser, "tech", OFFICE).status_code == 302


def _schema(app, method, path):
    doc = app.test_client().get("/api/openapi.json").json
    schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


def test_technician_and_auditor_see_the_lockouts_without_passwords(app):
    attacker = app.test_client()
    for _ in range(5):
        assert _login(attacker, "officer", WRONG, "198.51.100.1").status_code == 401
    for i in range(20):
        assert _login(attacker, f"user{i}", WRONG, "198.51.100.2").status_code == 401
    for who in ("tech", "auditor"):
        r = app.test_client().get("/api/auth/lockouts", headers=_bearer(app, who))
        assert r.status_code == 200, who
        jsonschema.validate(r.json, _schema(app, "get", "/api/auth/lockouts"))
        assert WRONG not in r.get_data(as_text=True)
        entries = {(e["scope"], e["username"], e["address"]): e for e in r.json["entries"]}
        pair = entries[("username_address", "officer", "198.51.100.1")]
        assert pair["failures"] == 5 and 0 < pair["locked_for_s"] <= WINDOW_S
        assert entries[("username", "officer", None)]["failures"] == 5
        assert entries[("username", "officer", None)]["locked_for_s"] == 0  # 5 of 50: not locked for everyone
        address = entries[("address", None, "198.51.100.2")]
        assert address["failures"] == 20 and 0 < address["locked_for_s"] <= WINDOW_S
    for who in ("officer", "presiding"):
        assert app.test_client().get("/api/auth/lockouts", headers=_bearer(app, who)).status_code == 403
    assert app.test_client().get("/api/auth/lockouts").status_code == 401


def test_only_the_technician_clears_a_username_and_the_log_says_who(app, caplog):
    bearers = {who: _bearer(app, who) for who in USERS}  # signed in before the attack
    _distributed_lockout(app)
    assert _login(app.test_client(), "officer", PASSWORDS["officer"][1], OFFICE).status_code == 429
    for who in ("auditor", "officer", "presiding"):
        r = app.test_client().post("/api/auth/lockouts/clear", json={"username": "officer"}, headers=bearers[who])
        assert r.status_code == 403, who
    assert _login(app.test_client(), "officer", PASSWORDS["officer"][1], OFFICE).status_code == 429
    tech = bearers["tech"]
    with caplog.at_level(logging.INFO):
        r = app.test_client().post("/api/auth/lockouts/clear", json={"username": " Officer"}, headers=tech)
    assert r.status_code == 200 and r.json == {"username": "officer", "address": None, "cleared": True}
    jsonschema.validate(r.json, _schema(app, "post", "/api/auth/lockouts/clear"))
    said = [record.getMessage() for record in caplog.records if "officer" in record.getMessage()]
    assert said and "tech" in said[0]
    assert not [m for m in caplog.messages if WRONG in m or tech["Authorization"][7:] in m]
    # cleared over every address and from every address: the attacker's addresses too
    assert _login(app.test_client(), "officer", PASSWORDS["officer"][1], OFFICE).status_code == 200
    assert _login(app.test_client(), "officer", PASSWORDS["officer"][1], ATTACKERS[0]).status_code == 200
    listed = app.test_client().get("/api/auth/lockouts", headers=tech).json["entries"]
    assert not [e for e in listed if e["username"] == "officer"]
    r = app.test_client().post("/api/auth/lockouts/clear", json={"username": "officer"}, headers=tech)
    assert r.status_code == 200 and r.json == {"username": "officer", "address": None, "cleared": False}  # none left
    for bad in ({}, {"username": 5}, {"username": ""}, {"username": "x" * 65}, {"username": "a", "address": "b"},
                {"username": "   "}, {"address": " \t"}, {"address": ""}, {"username": None}):  # blank: s40 #11
        r = app.test_client().post("/api/auth/lockouts/clear", json=bad, headers=tech)
        assert r.status_code == 400 and r.mimetype == "application/problem+json", bad


def test_the_technician_screen_shows_the_lockouts_and_clears_one(app):
    attacker = app.test_client()
    for _ in range(5):
        assert _login(attacker, "auditor", WRONG, "198.51.100.3").status_code == 401
    browser = app.test_client()
    assert _ui_login(browser, "tech", OFFICE).status_code == 302
    page = browser.get("/technician").get_data(as_text=True)
    table = re.search(r'<table[^>]*id="lockouts".*?</table>', page, re.DOTALL)
    assert table and "auditor" in table.group(0) and "198.51.100.3" in table.group(0)
    assert WRONG not in page
    urdu = browser.get("/technician?lang=ur").get_data(as_text=True)
    assert 'id="lockouts"' in urdu and "لاک" in urdu  # the section's words in Urdu
    browser.get("/technician?lang=en")
    r = browser.post("/technician/lockouts/clear", data={"username": "auditor",
                                                         "csrf_token": _csrf(browser, "/technician")})
    assert r.status_code == 302
    page = browser.get("/technician").get_data(as_text=True)
    assert re.search(r'role="status">[^<]*auditor', page)  # the message names whom it cleared
    table = re.search(r'<table[^>]*id="lockouts".*?</table>', page, re.DOTALL)
    assert ">auditor<" not in table.group(0)  # the address's own count (5 of 20) stays: not the auditor's alone
    assert "198.51.100.3" in table.group(0)
    assert _login(app.test_client(), "auditor", PASSWORDS["auditor"][1], "198.51.100.3").status_code == 200
    r = browser.post("/technician/lockouts/clear", data={"username": "auditor"})  # no CSRF token
    assert r.status_code == 403
    presiding = app.test_client()  # may open the devices screen, not read the lockouts
    assert _ui_login(presiding, "presiding", OFFICE).status_code == 302
    assert 'id="lockouts"' not in presiding.get("/technician").get_data(as_text=True)
    r = presiding.post("/technician/lockouts/clear", data={"username": "auditor",
                                                           "csrf_token": _csrf(presiding, "/technician")})
    assert r.status_code == 403


def _lockouts_table(browser) -> str:
    page = browser.get("/technician").get_data(as_text=True)
    table = re.search(r'<table[^>]*id="lockouts".*?</table>', page, re.DOTALL)
    assert table, "no lockouts table on the technician screen"
    return table.group(0)


def _clear_buttons(table: str) -> list[tuple[str, str]]:
    """The (field, value) each Clear form of the lockouts table posts."""
    return re.findall(r'<input type="hidden" name="(username|address)" value="([^"]*)"', table)


def test_a_password_typed_into_the_username_field_is_never_shown(app):
    """The audit's s40 #2: a user who types their password into the username field (a common slip) left it in the
    lockouts view, shown to every technician and auditor for 15 minutes. A username that is no account is shown
    without its name; it locks no real user, so it has no Clear."""
    secret = PASSWORDS["officer"][1]
    careless = app.test_client()
    assert _login(careless, secret, secret, OFFICE).status_code == 401  # the password typed as the username
    assert _login(careless, "officer", WRONG, OFFICE).status_code == 401
    for who in ("tech", "auditor"):
        r = app.test_client().get("/api/auth/lockouts", headers=_bearer(app, who))
        assert r.status_code == 200 and secret not in r.get_data(as_text=True), who
        jsonschema.validate(r.json, _schema(app, "get", "/api/auth/lockouts"))
        shown = {(e["scope"], e["username"], e["unknown_username"], e["address"]) for e in r.json["entries"]}
        assert shown == {("username_address", None, True, OFFICE), ("username", None, True, None),
                         ("username_address", "officer", False, OFFICE), ("username", "officer", False, None),
                         ("address", None, False, OFFICE)}
    browser = app.test_client()
    assert _ui_login(browser, "tech", "192.0.2.201").status_code == 302
    for lang in ("ur", "en"):
        page = browser.get(f"/technician?lang={lang}").get_data(as_text=True)
        assert secret not in page, lang
    table = _lockouts_table(browser)
    assert table.count("an unknown username") == 2
    assert sorted(_clear_buttons(table)) == [("address", OFFICE), ("username", "officer")]


def test_clear_lifts_an_address_lock_and_the_log_says_who(app, caplog):
    """The audit's s40 #4: 20 failures from one desk over every username lock the desk's address, and the technician's
    Clear beside a username left it locked, where the operator guide says "they can sign in at once"."""
    desk = "192.0.2.50"  # one laptop shared by four users
    typist = app.test_client()
    for i in range(20):
        r = _login(typist, ("presiding", "officer", "clerk1", "clerk2")[i % 4], f"typo{i}", desk)
        assert r.status_code == 401
    assert _login(app.test_client(), "officer", PASSWORDS["officer"][1], desk).status_code == 429
    tech = _bearer(app, "tech")
    for who in ("auditor", "officer"):
        r = app.test_client().post("/api/auth/lockouts/clear", json={"address": desk}, headers=_bearer(app, who))
        assert r.status_code == 403, who
    with caplog.at_level(logging.INFO):
        r = app.test_client().post("/api/auth/lockouts/clear", json={"address": desk}, headers=tech)
    assert r.status_code == 200 and r.json == {"username": None, "address": desk, "cleared": True}
    jsonschema.validate(r.json, _schema(app, "post", "/api/auth/lockouts/clear"))
    said = [m for m in caplog.messages if desk in m]
    assert said and "tech" in said[0]
    # the address's failures over every username, and each username's from that address, are forgotten
    assert _login(app.test_client(), "officer", PASSWORDS["officer"][1], desk).status_code == 200
    assert _login(app.test_client(), "presiding", PASSWORDS["presiding"][1], desk).status_code == 200
    listed = app.test_client().get("/api/auth/lockouts", headers=tech).json["entries"]
    assert not [e for e in listed if e["address"] == desk]
    assert {e["scope"] for e in listed} == {"username"}  # each username's count over every address stays
    r = app.test_client().post("/api/auth/lockouts/clear", json={"address": desk}, headers=tech)
    assert r.status_code == 200 and r.json["cleared"] is False


def test_the_technician_screen_clears_an_address(app):
    desk = "192.0.2.51"
    typist = app.test_client()
    for i in range(20):
        assert _login(typist, f"user{i}", WRONG, desk).status_code == 401
    browser = app.test_client()
    assert _ui_login(browser, "tech", OFFICE).status_code == 302
    assert ("address", desk) in _clear_buttons(_lockouts_table(browser))
    r = browser.post("/technician/lockouts/clear", data={"address": desk,
                                                         "csrf_token": _csrf(browser, "/technician")})
    assert r.status_code == 302
    page = browser.get("/technician").get_data(as_text=True)
    assert re.search(r'role="status">[^<]*' + re.escape(desk), page)  # the message names what it cleared
    assert desk not in _lockouts_table(browser)
    assert _login(app.test_client(), "tech", PASSWORDS["tech"][1], desk).status_code == 200
    csrf = _csrf(browser, "/technician")
    for bad in ({"address": "  "}, {"username": " "}, {}, {"username": "officer", "address": desk}):
        r = browser.post("/technician/lockouts/clear", data={**bad, "csrf_token": csrf})
        assert r.status_code == 400, bad


def test_a_flood_of_made_up_usernames_keeps_the_lockouts_view_small(small_station):
    """The audit's s40 #9: one failure each for thousands of made-up usernames from as many addresses made the
    technician screen megabytes long and seconds slow. The view shows every locked count and the biggest of the
    others, and says how many it leaves out."""
    from api import create_app
    from station.security.throttle import LoginThrottle

    throttle = LoginThrottle()
    guesses = 3000
    for i in range(guesses):
        throttle.failed(f"guess{i:05d}", f"10.{i // 250}.{i % 250}.1")
    for _ in range(5):  # and one real lock (README: 5 failures for one username from one address)
        throttle.failed("officer", OFFICE)
    app = create_app(small_station, login_throttle=throttle)
    r = app.test_client().get("/api/auth/lockouts", headers=_bearer(app, "tech"))
    jsonschema.validate(r.json, _schema(app, "get", "/api/auth/lockouts"))
    entries = r.json["entries"]
    counts = 3 * guesses + 3  # a count for the username from its address, the address and the username, each
    assert len(entries) + r.json["more"] == counts
    assert len(entries) <= 100  # a screenful
    locked = [e for e in entries if e["locked_for_s"]]
    assert [(e["scope"], e["username"], e["address"]) for e in locked] == [("username_address", "officer", OFFICE)]
    browser = app.test_client()
    assert _ui_login(browser, "tech", "192.0.2.202").status_code == 302
    page = browser.get("/technician").get_data(as_text=True)
    assert len(page) < 100_000 and page.count("<tr") <= 110
    assert f"{r.json['more']}" in page  # how many it leaves out


def test_a_flood_of_locked_counts_keeps_the_lockouts_view_small(small_station):
    """Every locked count was shown: five failures each for thousands of made-up usernames lock as many counts (and
    their addresses), and the view was as long as before the cap. Now it shows the locked counts up to a screenful
    and says how many locked ones it leaves out, beside the others."""
    from api import create_app
    from station.security.throttle import LoginThrottle

    throttle = LoginThrottle()
    guesses = 600
    for i in range(guesses):
        for _ in range(5):
            throttle.failed(f"guess{i:05d}", f"10.{i // 250}.{i % 250}.1")
    locked_counts = sum(1 for e in throttle.state().entries if e.locked_for_s)
    assert locked_counts >= guesses  # every username from its address at least
    app = create_app(small_station, login_throttle=throttle)
    r = app.test_client().get("/api/auth/lockouts", headers=_bearer(app, "tech"))
    jsonschema.validate(r.json, _schema(app, "get", "/api/auth/lockouts"))
    entries = r.json["entries"]
    locked_shown = [e for e in entries if e["locked_for_s"]]
    assert len(entries) <= 250 and entries[:len(locked_shown)] == locked_shown  # locked first
    assert len(locked_shown) + r.json["more_locked"] == locked_counts and r.json["more_locked"] > 0
    assert len(entries) + r.json["more_locked"] + r.json["more"] == len(throttle.state().entries)
    browser = app.test_client()
    assert _ui_login(browser, "tech", "192.0.2.203").status_code == 302
    page = browser.get("/technician").get_data(as_text=True)
    assert page.count("<tr") <= 260 and 'id="lockouts-more-locked"' in page
    assert f"{r.json['more_locked']}" in page
