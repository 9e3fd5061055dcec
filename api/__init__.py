"""The Flask app: the station's only door to the outside. It parses input, calls one station service and
serialises the result; it never opens a device, loads a model or touches the database directly.

Two faces: the JSON API under /api (bearer tokens, problem+json errors, OpenAPI at /api/openapi.json) and the
registrar UI at / (server-rendered, English/Urdu, a server-side session behind an opaque cookie, CSRF protection).
Over HTTPS the session cookie is Secure and every response carries Strict-Transport-Security."""
from __future__ import annotations

from typing import Callable

from flask import Flask, request

from station.security.clock import boottime
from station.security.cookie_key import cookie_key
from station.security.device_cookies import DeviceCookies
from station.security.sessions import SessionStore
from station.security.throttle import LoginThrottle

from .device_cookie import set_device_cookie
from .errors import register_error_handlers
from .i18n import init_i18n
from .requests import refuse_nul_characters_in_the_ui, set_csrf_cookie, settle_before_writing
from .sessions import ServerSessionInterface

# No inline script or style anywhere; every asset is served by the station itself; no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000"  # a year; no includeSubDomains: the station's names are its own, not a domain's


def create_app(station, *, secret_key: bytes | None = None, login_throttle: LoginThrottle | None = None,
               sessions: SessionStore | None = None, clock: Callable[[], float] = boottime) -> Flask:
    """App factory; ``station`` is a built ``station.runtime.Station``. Browser sessions live in this process's
    memory (``sessions``; by default a store whose signed-in sessions end after ``server.session_idle_minutes``
    without use): a restart signs everyone out of the browser UI (API tokens stay valid until they expire or are
    revoked). ``clock`` times the sessions' idleness and the login throttle's window when this builds them (by default
    ``boottime``: the time the laptop lay suspended counts).

    The secret key signs the sign-in form's CSRF token and the device cookies. Unless given, it is the station's
    cookie key (keys/cookie-signing.key, ``station.security.cookie_key``), kept over restarts."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = station.config.server.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = 64 * 1024
    app.config["JSON_SORT_KEYS"] = False
    app.config["SECRET_KEY"] = secret_key or cookie_key(station.config.keys_dir)
    app.config.update(SESSION_COOKIE_NAME="station_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict")
    if sessions is None:  # an empty store is falsy: compared with None
        sessions = SessionStore(idle_s=station.config.server.session_idle_minutes * 60, clock=clock)
    app.session_interface = ServerSessionInterface(sessions, revoke=station.accounts.logout)
    app.extensions["station"] = station
    app.extensions["login_throttle"] = login_throttle or LoginThrottle(clock=clock)
    key = app.config["SECRET_KEY"]
    app.extensions["device_cookies"] = DeviceCookies(key.encode() if isinstance(key, str) else key)
    register_error_handlers(app)
    app.before_request(refuse_nul_characters_in_the_ui)  # U+0000: a 400 on SQLite and PostgreSQL alike
    app.before_request(settle_before_writing)  # an import killed in another process: its key files put back first
    app.after_request(set_csrf_cookie)  # the sign-in form's signed double-submit cookie
    app.after_request(set_device_cookie)  # after a successful sign-in: the device cookie (api/device_cookie.py)
    init_i18n(app, station.config.home)

    from . import ui
    from .routes import audit, auth, devices, health, keys, power, registrations, sim, verifications, voters

    for module in (health, auth, keys, power, verifications, voters, registrations, sim, audit, devices):
        app.register_blueprint(module.bp)
    app.register_blueprint(ui.bp)

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=(), payment=()")
        headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:  # HTTPS (cheroot's TLS): browsers keep to HTTPS for this host from now on
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    return app
