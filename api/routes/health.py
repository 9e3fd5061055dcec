from flask import Blueprint, current_app, jsonify

from ..openapi import PUBLIC, build_document, endpoint
from ..requests import station

bp = Blueprint("health", __name__)


@bp.get("/api/health")
@endpoint(summary="Liveness: the station id and profile", roles=PUBLIC,
          responses={200: {"type": "object", "required": ["status", "station", "profile"],
                           "properties": {"status": {"const": "ok"}, "station": {"type": "string"},
                                          "profile": {"type": "string"}}}})
def health():
    s = station()
    return jsonify({"status": "ok", "station": s.config.station.id, "profile": s.config.profile})


@bp.get("/api/openapi.json")
@endpoint(summary="This document (OpenAPI 3.1), generated from the endpoint declarations", roles=PUBLIC,
          responses={200: {"type": "object", "required": ["openapi", "paths"]}})
def openapi():
    document = current_app.extensions.get("openapi_document")
    if document is None:
        document = current_app.extensions["openapi_document"] = build_document(current_app)
    return jsonify(document)
