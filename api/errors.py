"""Errors as application/problem+json (RFC 9457). Domain errors map to 4xx/503; unexpected errors stay 500 and are
logged with their traceback on the server, never sent to the client."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from station.security.throttle import TooManyAttempts
from station.errors import (AuthenticationFailed, CardRejected, Conflict, DeviceUnavailable, InvalidInput, KeyMissing, NotFound,
                            NotPermitted, StationError)

log = logging.getLogger(__name__)

STATUS = (
    (TooManyAttempts, 429, "too-many-attempts"),
    (InvalidInput, 400, "invalid-input"),
    (AuthenticationFailed, 401, "authentication-failed"),
    (NotPermitted, 403, "not-permitted"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (CardRejected, 422, "card-rejected"),
    (DeviceUnavailable, 503, "device-unavailable"),
    (KeyMissing, 503, "station-not-initialised"),
)


def error_page(status: int, detail: str):
    """The registrar UI's answer to an error on one of its own pages (the API answers problem+json)."""
    return render_template("error.html", status=status, detail=detail), status


def problem(status: int, kind: str, title: str, detail: str, headers: dict | None = None):
    response = jsonify({"type": f"about:blank#{kind}", "title": title, "status": status, "detail": detail})
    response.status_code = status
    response.mimetype = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="station"'
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(StationError)
    def _station_error(exc: StationError):
        for cls, status, kind in STATUS:
            if isinstance(exc, cls):
                headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else None
                return problem(status, kind, kind.replace("-", " ").capitalize(), str(exc), headers)
        log.exception("station error without an HTTP mapping")
        return problem(500, "station-error", "Station error", str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = app.config["MAX_CONTENT_LENGTH"]
        return problem(413, "request-too-large", "Request body too large",
                       f"request bodies are limited to {limit} bytes")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if not request.path.startswith("/api/") and exc.code in (403, 404, 405):
            return error_page(exc.code, exc.description or exc.name)
        return problem(exc.code or 500, exc.name.lower().replace(" ", "-"), exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error")
        return problem(500, "internal-error", "Internal error", "an unexpected error occurred; it has been logged")
