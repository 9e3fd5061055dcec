"""Flask's ``session`` kept on the server (``station.security.sessions.SessionStore``): the cookie ``station_session``
holds only a random id. The cookie is HttpOnly, SameSite=Strict and, when the request came over HTTPS, Secure.

``rotate()`` gives the session a new id and forgets the old one (at sign-in and sign-out): an id an attacker planted
or copied before is worth nothing afterwards."""
from __future__ import annotations

from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from station.security.sessions import SessionStore


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
    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def open_session(self, app, request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        data = self.store.load(sid)
        return ServerSession(data, sid) if data is not None else ServerSession()

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
