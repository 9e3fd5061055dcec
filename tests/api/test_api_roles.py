"""The role matrix, as a table: every API endpoint (from the app's own declarations) x every role, plus no token and an
expired token; and every UI screen x every role, plus signed out. Allowed calls send input that fails validation or
names nothing, so the matrix changes no state."""
import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import update

from tests.support.stations import PASSWORDS
from station.db.models import ApiToken

ROLES = {"officer": "polling_officer", "presiding": "presiding_officer", "tech": "technician", "auditor": "auditor",
         "regofficer": "registration_officer", "registrar": "registrar"}
PATH_VALUES = {"session_id": "no-such-verification", "cnic": "not-a-cnic", "kind": "no-such-device",
               "position": "right_thumb"}
UI_SCREENS = {"next": "/next", "verify": "/verify/no-such-verification", "search": "/search",
              "summary": "/summary", "technician": "/technician", "audit": "/audit",
              "register": "/register", "capture": "/register/no-such-registration",
              "adjudication": "/adjudication", "decide": "/adjudication/no-such-registration"}
NOT_FOUND_SCREENS = ("verify", "capture", "decide")  # an unknown verification or registration, shown as a page


def _endpoints(app):
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        spec = getattr(app.view_functions[rule.endpoint], "api_spec", None)
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: PATH_VALUES[m.group(1)], rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, path, rule.rule, spec))
    return sorted(out, key=lambda e: (e[1], e[0]))


@pytest.fixture(scope="module")
def expired_token(app, station):
    token = app.test_client().post("/api/auth/login", json={"username": "presiding",
                                                            "password": PASSWORDS["presiding"][1]}).json["token"]
    with station.transaction() as s:
        s.execute(update(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
                  .values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)))
    return token


def _call(client, method, path, headers):
    # a body that fails validation (an unknown field), so an allowed role gets 400 and nothing changes
    kwargs = {"json": {"no_such_field": 1}} if method == "POST" and not path.endswith("/login") else {}
    if path.endswith("/login"):
        kwargs = {"json": {"username": 1}}
    return client.open(path, method=method, headers=headers, **kwargs)


def test_every_api_endpoint_declares_its_roles(app):
    undeclared = [f"{m} {rule}" for m, _, rule, spec in _endpoints(app) if spec is None]
    assert not undeclared
    assert len(_endpoints(app)) >= 20


@pytest.mark.parametrize("who", [*ROLES, "no-token", "expired-token"])
def test_role_matrix(app, tokens, expired_token, who):
    client = app.test_client()
    headers = ({} if who == "no-token" else {"Authorization": f"Bearer {expired_token}"} if who == "expired-token"
               else {"Authorization": f"Bearer {tokens[who]}"})
    table = []
    for method, path, rule, spec in _endpoints(app):
        r = _call(client, method, path, headers)
        public = spec["roles"] == "public"
        if public:
            expected = "allowed"
        elif who in ("no-token", "expired-token"):
            expected = 401
        else:
            expected = "allowed" if ROLES[who] in spec["roles"] else 403
        ok = (r.status_code not in (401, 403, 500)) if expected == "allowed" else r.status_code == expected
        if expected != "allowed" or not public:
            assert r.mimetype in ("application/problem+json", "application/json", "text/html"), (path, r.mimetype)
        if who == "expired-token" and not public:
            ok = ok and "expired" in r.json["detail"]
        table.append((f"{method} {rule}", expected, r.status_code, ok))
    wrong = [row for row in table if not row[3]]
    assert not wrong, "\n".join(f"{name}: expected {exp}, got {got}" for name, exp, got, _ in wrong)


def _ui_login(client, username):
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORDS[username][1], "csrf_token": csrf})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]


@pytest.mark.parametrize("who", [*ROLES, "signed-out"])
def test_ui_screen_matrix(app, who):
    from api.ui import SCREENS

    assert set(UI_SCREENS) == set(SCREENS), "every screen of api.ui.SCREENS is in the matrix"
    client = app.test_client()
    if who != "signed-out":
        _ui_login(client, who)
    wrong = []
    for screen, path in UI_SCREENS.items():
        r = client.get(path)
        if who == "signed-out":
            expected = 302
        elif ROLES[who] in SCREENS[screen]:
            expected = 404 if screen in NOT_FOUND_SCREENS else 200
        else:
            expected = 403
        if r.status_code != expected:
            wrong.append(f"{screen}: expected {expected}, got {r.status_code}")
    assert not wrong
