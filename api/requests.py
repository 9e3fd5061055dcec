"""Request helpers: the JSON body, the station, the authenticated principal.

Two ways in: API clients send ``Authorization: Bearer <token>``; the browser UI's session (server-side, behind an
opaque HttpOnly SameSite=Strict cookie: ``api/sessions.py``) holds the same kind of token, which never reaches the
browser, and must echo the session's CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``) on every unsafe
method. Signed out (the sign-in form) the CSRF token is stateless instead: an HMAC of the browser's random
``station_csrf`` cookie under the app's secret key (``csrf_token``). Both go through
``station.accounts.authenticate`` (expiry, revocation, disabled users)."""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
from typing import TYPE_CHECKING

from flask import current_app, g, request, session
from werkzeug.exceptions import RequestEntityTooLarge

from station.errors import AuthenticationFailed, InvalidInput, NotPermitted

if TYPE_CHECKING:
    from station.runtime import Station

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_JSON_DEPTH = 16  # the deepest request body the API declares is 3 levels


def station() -> "Station":
    """The built station this app serves (its services: ``station().polling``, ``.roll``, ``.registration`` ...)."""
    return current_app.extensions["station"]


def json_body(*, required: bool = True) -> dict:
    raw = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # a chunked body (no Content-Length) is read up to the limit and cut there without an error: one that
        # reaches it is too large, as one announcing a larger length is (413, errors.py)
        raise RequestEntityTooLarge()
    if not raw:
        if required:
            raise InvalidInput("request body is empty: a JSON object is required")
        return {}
    if not (request.mimetype or "").endswith("json"):
        raise InvalidInput("request body must be JSON (Content-Type: application/json)")
    try:
        body = json.loads(raw)
    except RecursionError:
        raise InvalidInput(f"request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError:
        raise InvalidInput("request body is not valid JSON: a JSON object is required") from None
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    if _depth(body) > MAX_JSON_DEPTH:
        raise InvalidInput(f"request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    refused = _refused_character(body)
    if refused:
        raise InvalidInput(f"request body: text must not contain {refused}")
    return body


NUL_NAME = "the NUL character (U+0000)"
# JSON's \ud800-\udfff escapes that do not pair up into one character: no UTF-8 text (nor any database) can hold them
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE_NAME = "a lone surrogate (an unpaired \\ud800-\\udfff escape)"


def _refused_character(value: object) -> str | None:
    """What a string of a parsed JSON value (keys included) holds that the station cannot store - U+0000 or a lone
    surrogate (json.loads pairs the others into one character) - by name, or None; iteratively."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_NAME
            if _LONE_SURROGATE.search(item):
                return LONE_SURROGATE_NAME
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def refuse_nul_characters(*, form: bool = False) -> None:
    """U+0000 in a path parameter, the query or a form is bad input (400). PostgreSQL's text cannot hold it (SQLite's
    can), so it would otherwise reach the database and come back as a 500 on PostgreSQL only. The API checks after
    authenticating the caller (``openapi.endpoint``: 401 and 403 come first), the browser UI before every request;
    JSON bodies are checked by ``json_body``; forms (``form=True``) only in the UI, where they are the input (reading
    one in the API would consume a body that ``json_body`` then refuses as not JSON)."""
    parts = [("path", value) for value in (request.view_args or {}).values() if isinstance(value, str)]
    parts += [("query", text) for item in request.args.items(multi=True) for text in item]
    if form and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        parts += [("form", text) for item in request.form.items(multi=True) for text in item]
    for where, text in parts:
        if "\x00" in text:
            raise InvalidInput(f"{where}: text must not contain {NUL_NAME}")


def _depth(value: object) -> int:
    """How deeply objects and arrays nest in a parsed JSON value (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


# Signed out, a visitor keeps nothing on the server: the sign-in form's CSRF token is a signed double-submit cookie,
# so a flood of cookie-less visits cannot push anyone's sign-in out of the bounded session store.
CSRF_COOKIE = "station_csrf"
_CSRF_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def _signed_csrf(nonce: str) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"station sign-in csrf\x00" + nonce.encode(), hashlib.sha256).hexdigest()


def csrf_token() -> str:
    """The CSRF token for this page's forms. Signed in: the session's (created on first use). Signed out: an HMAC of
    the browser's random ``station_csrf`` cookie (made here, and set by ``set_csrf_cookie``, when the browser has
    none) under the app's secret key, which only this server can compute and only that browser sends back."""
    if not session.get("token"):
        nonce = g.get("csrf_nonce") or request.cookies.get(CSRF_COOKIE, "")
        if not _CSRF_NONCE.fullmatch(nonce):
            nonce = g.csrf_nonce = secrets.token_urlsafe(32)
        return _signed_csrf(nonce)
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def set_csrf_cookie(response):
    """After a request: the ``station_csrf`` cookie that ``csrf_token`` made for this browser, if it made one."""
    if g.get("csrf_nonce"):
        response.set_cookie(CSRF_COOKIE, g.csrf_nonce, httponly=True, secure=request.is_secure, samesite="Strict",
                            path=current_app.session_interface.get_cookie_path(current_app))
        response.vary.add("Cookie")
    return response


def check_csrf() -> None:
    sent = request.headers.get("X-CSRF-Token") or (request.form.get("csrf_token") if request.form else None) or ""
    if session.get("token"):
        expected = session.get("csrf") or ""
    else:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        expected = _signed_csrf(nonce) if _CSRF_NONCE.fullmatch(nonce) else ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise NotPermitted("CSRF token missing or wrong: reload the page and try again")


def client_address() -> str | None:
    """The client's address as the server saw it (the login throttle's per-address limit); no proxy is trusted."""
    return request.remote_addr


def bearer_token() -> str | None:
    """The request's bearer token, or None when it has no Authorization header."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("missing bearer token: log in at /api/auth/login")
    return token.strip()


def authenticate_request():
    """The caller's Principal from the bearer token, or from the browser session (with CSRF on unsafe methods)."""
    token = bearer_token()
    if token is not None:
        return station().accounts.authenticate(token)
    token = session.get("token")
    if not token:
        raise AuthenticationFailed("missing bearer token: log in at /api/auth/login")
    principal = station().accounts.authenticate(token)
    if request.method not in SAFE_METHODS:
        check_csrf()
    return principal


def authenticated(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.principal = authenticate_request()
        return view(*args, **kwargs)

    return wrapper


def refuse_nul_characters_in_the_ui() -> None:
    """Before every request of the browser UI (``refuse_nul_characters``); the API's endpoints check for themselves."""
    if not request.path.startswith("/api/"):
        refuse_nul_characters(form=True)


def settle_before_writing() -> None:
    """Before every request that may write (any method but GET, HEAD and OPTIONS): settle what a roll import killed
    in another process left in keys/ (``Station.settle_interrupted_import``), before this request opens a transaction
    and keys a voter's entry with a key file the log never named. A stat when there is nothing to settle."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        station().settle_interrupted_import()
