"""Request helpers: the JSON body, the station, the authenticated principal."""
from __future__ import annotations

import functools

from flask import current_app, g, request

from station.errors import AuthenticationFailed, InvalidInput


def station():
    return current_app.extensions["station"]


def json_body(*, required: bool = True) -> dict:
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise InvalidInput("request body is empty: a JSON object is required")
        return {}
    if not (request.mimetype or "").endswith("json"):
        raise InvalidInput("request body must be JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    return body


def authenticated(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("missing bearer token: log in at /api/auth/login")
        g.principal = station().authenticate(token.strip())
        return view(*args, **kwargs)

    return wrapper
