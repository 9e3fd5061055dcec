from flask import Blueprint, current_app, g, jsonify, session

from station.security.roles import ROLES
from station.security.throttle import (MAX_ADDRESS_FAILURES, MAX_FAILURES, MAX_USERNAME_FAILURES, WINDOW_S,
                                        login_throttled)

from ..openapi import PUBLIC, body, endpoint, ref
from ..requests import bearer_token, client_address, station

bp = Blueprint("auth", __name__)

LOGIN = body({"username": {"type": "string", "title": "username", "maxLength": 64},
              "password": {"type": "string", "title": "password", "maxLength": 256}})


@bp.post("/api/auth/login")
@endpoint(summary=f"Log in: a bearer token for the user's role (in {WINDOW_S // 60} minutes {MAX_FAILURES} "
                  f"failures for one username from one address, {MAX_ADDRESS_FAILURES} from one address or "
                  f"{MAX_USERNAME_FAILURES} for one username from every address lock it: 429)",
          roles=PUBLIC, body=LOGIN,
          responses={200: ref("Login")})
def login():
    return jsonify(login_throttled(station().accounts, current_app.extensions["login_throttle"], g.body.get("username"),
                                   g.body.get("password"), client_address()))


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
