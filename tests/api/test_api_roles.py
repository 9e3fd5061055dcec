"""The role matrix, written by hand from the README's API table (README.md, "The API"): every API endpoint x every role,
plus no token and an expired token; and every UI screen x every role, plus signed out.

The expectations are deliberately NOT read from station/security/roles.py or from the endpoint declarations: a role
set changed in the code without the README (or the other way round) must fail here. A route added to the app must be
added to API_TABLE by hand (and to the README's table).

Allowed calls send input that fails validation (an unknown field) or names nothing (an unknown verification,
registration, device or CNIC), so an allowed role gets 400/404 before anything changes: the matrix changes no state
on the shared station (no ballot, no close of poll, no logout of the shared tokens). What is checked is 401/403 versus
not 401/403."""
import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import update

from station.db.models import ApiToken
# the users, the README's role groups and API_TABLE (method, path -> roles allowed), written by hand from the README
# (the fuzzer, tests/api/test_api_fuzz.py, uses the same table)
from tests.support.api_roles import (ALL, API_TABLE, AUDIT_LOG, DEVICES, KEYS, OFFICERS, PUBLIC, REGISTRAR,
                                     REGISTRATION_STAFF, SUMMARY, USERS)
from tests.support.api_roles import route_shape as _shape
from tests.support.stations import PASSWORDS

# values for the path parameters: nothing they name exists (or is valid), so an allowed call changes nothing
PATH_VALUES = {"id": "no-such-session", "cnic": "not-a-cnic", "kind": "no-such-device", "position": "right_thumb"}

# UI screens -> roles: each screen shows what its API routes in the table above give (the README lists the screens,
# not their roles): next/verify/search = verifications and roll search, summary, technician = devices, audit = the
# live log, register/capture = registrations, adjudication/decide = the registrar's queue.
UI_TABLE = {
    "next": ("/next", OFFICERS), "verify": ("/verify/no-such-verification", OFFICERS),
    "search": ("/search", OFFICERS), "summary": ("/summary", SUMMARY), "technician": ("/technician", DEVICES),
    "audit": ("/audit", AUDIT_LOG), "register": ("/register", REGISTRATION_STAFF),
    "capture": ("/register/no-such-registration", REGISTRATION_STAFF), "adjudication": ("/adjudication", REGISTRAR),
    "decide": ("/adjudication/no-such-registration", REGISTRAR), "keys": ("/keys", KEYS),
}
NOT_FOUND_SCREENS = ("verify", "capture", "decide")  # an unknown verification or registration, shown as a page


def _app_routes(app) -> set[tuple[str, str]]:
    return {(method, _shape(rule.rule)) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def _url(path: str) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def _call(client, method, path, headers):
    if path == "/api/auth/login":
        kwargs = {"json": {"username": 1}}  # fails validation: no login attempt is counted
    elif method == "POST":
        kwargs = {"json": {"no_such_field": 1}}  # fails validation: an allowed role gets 400 and nothing changes
    else:
        kwargs = {}
    return client.open(_url(path), method=method, headers=headers, **kwargs)


def _expected(roles, who: str):
    if roles == PUBLIC:
        return "allowed"
    if who in ("no-token", "expired-token"):
        return 401
    return "allowed" if USERS[who] in roles else 403


@pytest.fixture(scope="module")
def expired_token(app, station):
    token = app.test_client().post("/api/auth/login", json={"username": "presiding",
                                                            "password": PASSWORDS["presiding"][1]}).json["token"]
    with station.transaction() as s:
        s.execute(update(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
                  .values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)))
    return token


def test_every_api_route_of_the_app_is_in_the_table(app):
    """A route the app serves under /api/ that the hand-written table lacks (or a row for a route that is gone)
    fails here: add it to API_TABLE and to the README's table, with its roles."""
    in_app = _app_routes(app)
    in_table = {(method, _shape(path)) for method, path in API_TABLE}
    assert len(in_table) == len(API_TABLE), "two rows of API_TABLE name the same route"
    assert sorted(in_app - in_table) == [], "routes of the app missing from API_TABLE (and the README?)"
    assert sorted(in_table - in_app) == [], "rows of API_TABLE for routes the app does not have"


def test_the_matrix_covers_every_role_of_the_station():
    from station.security.roles import ROLES as CODE_ROLES

    assert set(USERS.values()) == set(CODE_ROLES) == set(ALL)
    assert set(USERS) == set(PASSWORDS)


@pytest.mark.parametrize("who", [*USERS, "no-token", "expired-token"])
def test_role_matrix(app, tokens, expired_token, who):
    client = app.test_client()
    headers = ({} if who == "no-token" else {"Authorization": f"Bearer {expired_token}"} if who == "expired-token"
               else {"Authorization": f"Bearer {tokens[who]}"})
    wrong = []
    for (method, path), roles in sorted(API_TABLE.items(), key=lambda item: (item[0][1], item[0][0])):
        r = _call(client, method, path, headers)
        expected = _expected(roles, who)
        if expected == "allowed":
            # not refused; bad input (400), nothing found (404), a state conflict (409) or a device fault (503) are
            # fine, a crash is not
            ok = r.status_code not in (401, 403) and (r.status_code < 500 or r.status_code == 503)
        else:
            ok = r.status_code == expected and r.mimetype == "application/problem+json"
            if ok and who == "expired-token":
                ok = "expired" in r.json["detail"]
        if not ok:
            wrong.append(f"{method} {path}: expected {expected}, got {r.status_code} {r.get_data(as_text=True)[:120]}")
    assert not wrong, f"{who} ({USERS.get(who, who)}):\n" + "\n".join(wrong)


def test_the_shared_tokens_survive_the_matrix(app, tokens):
    """The matrix's logout calls fail validation: every shared token still works afterwards."""
    client = app.test_client()
    for who in USERS:
        r = client.post("/api/auth/logout", json={"no_such_field": 1},
                        headers={"Authorization": f"Bearer {tokens[who]}"})
        assert r.status_code == 400, (who, r.status_code)
    r = client.get("/api/summary", headers={"Authorization": f"Bearer {tokens['officer']}"})
    assert r.status_code == 200


def _ui_login(client, username):
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORDS[username][1], "csrf_token": csrf})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]


def test_every_ui_screen_is_in_the_table():
    from api.ui import SCREENS

    assert set(UI_TABLE) == set(SCREENS), "every screen of api.ui.SCREENS is in UI_TABLE"


@pytest.mark.parametrize("who", [*USERS, "signed-out"])
def test_ui_screen_matrix(app, who):
    client = app.test_client()
    if who != "signed-out":
        _ui_login(client, who)
    wrong = []
    for screen, (path, roles) in UI_TABLE.items():
        r = client.get(path)
        if who == "signed-out":
            expected = 302
        elif USERS[who] in roles:
            expected = 404 if screen in NOT_FOUND_SCREENS else 200
        else:
            expected = 403
        if r.status_code != expected:
            wrong.append(f"{screen}: expected {expected}, got {r.status_code}")
    assert not wrong
