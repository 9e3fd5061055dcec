import dataclasses

from flask import Blueprint, current_app, g, jsonify, session

from station.security.lockouts import MAX_LOCKED_SHOWN, MAX_SHOWN, clear_lockout, lockouts
from station.security.roles import LOCKOUT_CLEAR_ROLES, LOCKOUT_ROLES, ROLES
from station.security.throttle import (MAX_ADDRESS_CHARS, MAX_ADDRESS_FAILURES, MAX_FAILURES, MAX_USERNAME_CHARS,
                                        MAX_USERNAME_FAILURES, WINDOW_S)

from ..device_cookie import DEVICE_COOKIE, sign_in
from ..openapi import PUBLIC, body, endpoint, ref
from ..requests import bearer_token, station

bp = Blueprint("auth", __name__)

LOGIN = body({"username": {"type": "string", "title": "username", "maxLength": MAX_USERNAME_CHARS},
              "password": {"type": "string", "title": "password", "maxLength": 256}})
CLEAR = {**body({"username": {"type": "string", "title": "username", "minLength": 1, "maxLength": MAX_USERNAME_CHARS},
                 "address": {"type": "string", "title": "address", "minLength": 1, "maxLength": MAX_ADDRESS_CHARS}}),
         "minProperties": 1, "maxProperties": 1}  # exactly one; not blank (station.security.lockouts)


@bp.post("/api/auth/login")
@endpoint(summary=f"Log in: a bearer token for the user's role (in {WINDOW_S // 60} minutes {MAX_FAILURES} "
                  f"failures for one username from one address, {MAX_ADDRESS_FAILURES} from one address or "
                  f"{MAX_USERNAME_FAILURES} for one username from every address lock it: 429). The response sets "
                  f"the device cookie {DEVICE_COOKIE}: a client that sends it back when it logs in as the same user "
                  f"passes those locks and is locked only by {MAX_FAILURES} failures of its own",
          roles=PUBLIC, body=LOGIN,
          responses={200: ref("Login")})
def login():
    return jsonify(sign_in(g.body.get("username"), g.body.get("password")))


@bp.post("/api/auth/logout")
@endpoint(summary="Log out: the bearer token (or the browser session and its token) is deleted on the server and "
                  "answers 401 from now on", roles=ROLES, body=body({}), body_required=False,
          responses={200: ref("Logout")})
def logout():
    token = bearer_token()
    if token is None:  # the browser session (authenticated, CSRF checked by the endpoint)
        token = session.get("token")
        lang = session.get("lang")
        session.clear()
        session.rotate()
        session["lang"] = lang or "en"
    station().accounts.logout(token)
    return jsonify({"logged_out": True})


@bp.get("/api/auth/lockouts")
@endpoint(summary="Login lockouts: each username, address, username from one address and device (by its username) "
                  "with failed logins in the window, its failures, its limit and the seconds its lock has left (0: "
                  f"not locked); the {MAX_LOCKED_SHOWN} locked longest, then the {MAX_SHOWN} others nearest their "
                  "limit (\"more_locked\", \"more\": how many of each are left out). A username is shown only when "
                  "it is a user's: else null and \"unknown_username\": true (a password typed into the username field "
                  "is never shown)",
          roles=LOCKOUT_ROLES, responses={200: ref("Lockouts")})
def list_lockouts():
    view = lockouts(current_app.extensions["login_throttle"], g.principal, station().accounts)
    return jsonify(dataclasses.asdict(view))


@bp.post("/api/auth/lockouts/clear")
@endpoint(summary="Clear a login lockout, of exactly one username or address (a blank one: 400). A username: its "
                  "failures over every address, from every address and from its devices are forgotten (an "
                  "address's own count stays). An address (an IPv6 one: its /64): its failures over every username "
                  "and each username's from it are forgotten (a username's count over every address stays). "
                  "\"cleared\": false when there were none. Written to the station's log with who cleared it",
          roles=LOCKOUT_CLEAR_ROLES, body=CLEAR, responses={200: ref("LockoutCleared")})
def clear():
    cleared = clear_lockout(current_app.extensions["login_throttle"], g.principal, username=g.body.get("username"),
                            address=g.body.get("address"))
    return jsonify(dataclasses.asdict(cleared))
