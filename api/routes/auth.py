from flask import Blueprint, current_app, g, jsonify

from station.security.throttle import login_throttled

from ..openapi import PUBLIC, body, endpoint, ref
from ..requests import station

bp = Blueprint("auth", __name__)

LOGIN = body({"username": {"type": "string", "title": "username", "maxLength": 64},
              "password": {"type": "string", "title": "password", "maxLength": 256}})


@bp.post("/api/auth/login")
@endpoint(summary="Log in: a bearer token for the user's role (5 failures per username in 15 minutes lock it)",
          roles=PUBLIC, body=LOGIN, responses={200: ref("Login")})
def login():
    return jsonify(login_throttled(station().accounts, current_app.extensions["login_throttle"], g.body.get("username"),
                                   g.body.get("password")))
