"""The Flask app: the station's only door to the outside. It parses input, calls one station service and
serialises the result; it never opens a device, loads a model or touches the database directly."""
from __future__ import annotations

from flask import Flask

from .errors import register_error_handlers


def create_app(station) -> Flask:
    """App factory; ``station`` is a built ``station.runtime.Station``."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = station.config.server.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.extensions["station"] = station
    register_error_handlers(app)

    from .routes import audit, auth, health, sim, verifications, voters

    for module in (health, auth, verifications, voters, sim, audit):
        app.register_blueprint(module.bp)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
