"""Flask's ``session`` kept on the server (``station.security.sessions.SessionStore``): the cookie ``station_session``
holds only a random id. The cookie is HttpOnly, SameSite=Strict and, when the request came over HTTPS, Secure.

``rotate()`` gives the session a new id and forgets the old one (at sign-in and sign-out): an id an attacker planted
or copied before is worth nothing afterwards.

A signed-in session left unused for the store's ``idle_s`` (``server.session_idle_minutes``) ends at its next request:
its API token is revoked on the server (``revoke``: ``AccountService.logout``, as at sign-out) and the browser gets a
fresh session that keeps only its language and ``IDLE_ENDED`` (the minutes), which the sign-in page turns into its
message (``api.ui.index``)."""
from __future__ import annotations

import logging
import math
from typing import Callable

from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from station.security.sessions import SessionStore

log = logging.getLogger(__name__)

IDLE_ENDED = "idle_ended_minutes"  # the session key that tells the sign-in page why the last session ended


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict | None = None, sid: str | None = None) -> None:
        def on_update(session):
            session.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.retired: str | None = None
        self.modified = False

    def rotate(self) -> None:
        """A new id from now on; the old one is forgotten when the response is saved."""
        if self.sid is not None and self.retired is None:
            self.retired = self.sid
        self.sid = None
        self.modified = True


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: SessionStore, *, revoke: Callable[[str], object]) -> None:
        self.store = store
        self.revoke = revoke  # deletes an API token on the server

    def open_session(self, app, request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        opened = self.store.open(sid)
        if opened.data is not None:
            return ServerSession(opened.data, sid)
        session = ServerSession()
        if opened.idle_expired is not None:  # a signed-in screen left unattended: its token goes too
            try:
                self.revoke(opened.idle_expired["token"])
            except Exception as exc:  # before any view and its error handlers: else a bare 500
                log.warning("an idle browser session's API token was not revoked (%s); it expires on its own",
                            type(exc).__name__)
            lang = opened.idle_expired.get("lang")
            session.update({**({"lang": lang} if lang else {}), IDLE_ENDED: math.ceil(self.store.idle_s / 60)})
        return session

    def save_session(self, app, session: ServerSession, response) -> None:
        name, path = self.get_cookie_name(app), self.get_cookie_path(app)
        from flask import request

        secure = request.is_secure
        if session.retired is not None:
            self.store.delete(session.retired)
            session.retired = None
        if not session:
            if session.sid is not None and session.modified:  # emptied: forget it and the cookie
                self.store.delete(session.sid)
                response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="Strict")
            elif session.modified:  # rotated into nothing
                response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="Strict")
            return
        if not session.modified:
            return
        if session.sid is None:
            session.sid = self.store.new_id()
        self.store.save(session.sid, dict(session))
        response.set_cookie(name, session.sid, httponly=True, secure=secure, samesite="Strict", path=path)
        response.vary.add("Cookie")
