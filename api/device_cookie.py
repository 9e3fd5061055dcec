"""Signing in, for the API (``POST /api/auth/login``) and the sign-in form alike: the login throttle, told whether the
request comes from a trusted device, and the device cookie ``station_device`` for the next time
(``station.security.device_cookies``: OWASP's device cookies against a guesser who locks a username out from many
addresses).

The cookie is HttpOnly, SameSite=Strict, Secure over HTTPS, and lives ``MAX_AGE_S`` (30 days). Its value is up to 8
entries ``issued.nonce.mac`` joined by ``~``, one per user who signed in on that client; no username, password or
token. It is signed with the app's secret key, the station's cookie key (``station.security.cookie_key``), which
outlives a restart: a guesser who locks the username again right after one does not lock out the user's browser."""
from __future__ import annotations

from flask import current_app, g, request

from station.security.device_cookies import MAX_AGE_S
from station.security.throttle import login_throttled

from .requests import client_address, station

DEVICE_COOKIE = "station_device"


def sign_in(username: object, password: object) -> dict:
    """``login_throttled`` for this request (its address, and its device cookie when that is valid for ``username``);
    on success the response gets the renewed device cookie (``set_device_cookie``). Returns the login dict."""
    cookies = current_app.extensions["device_cookies"]
    sent = request.cookies.get(DEVICE_COOKIE)
    device = cookies.trusted(sent, username) if isinstance(username, str) and username else None
    result = login_throttled(station().accounts, current_app.extensions["login_throttle"], username, password,
                             client_address(), device=device)
    g.device_cookie = cookies.issue(result["username"], sent)
    return result


def set_device_cookie(response):
    """After a request: the device cookie that ``sign_in`` issued, if it issued one."""
    value = g.get("device_cookie")
    if value:
        response.set_cookie(DEVICE_COOKIE, value, max_age=MAX_AGE_S, httponly=True, secure=request.is_secure,
                            samesite="Strict", path=current_app.session_interface.get_cookie_path(current_app))
        response.vary.add("Cookie")
    return response
