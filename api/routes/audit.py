"""The auditor's read-only view of the match log."""
from flask import Blueprint, Response, g, jsonify

from station.security.roles import AUDIT_ROLES, REPORT_ROLES

from ..openapi import MAX_INT, endpoint
from ..requests import station

bp = Blueprint("audit", __name__, url_prefix="/api/audit")


@bp.get("/log")
@endpoint(summary="Signed entries of the match log after `after`, at most `limit`", roles=AUDIT_ROLES,
          query={"after": {"type": "integer", "minimum": 0, "maximum": MAX_INT, "default": 0},
                 "limit": {"type": "integer", "minimum": 0, "maximum": MAX_INT, "default": 200}},
          responses={200: {"type": "array", "items": {"type": "object", "required": ["body", "hash", "sig"]}}})
def log():
    return jsonify(station().audit.entries(g.principal, g.query["after"], g.query["limit"]))


@bp.get("/verify")
@endpoint(summary="Verify the hash chain and signatures of the live log", roles=AUDIT_ROLES,
          responses={200: {"type": "object", "required": ["ok", "entries", "head", "breaks"],
                           "properties": {"ok": {"type": "boolean"}, "entries": {"type": "integer"},
                                          "head": {"type": ["string", "null"]}, "breaks": {"type": "array"}}}})
def verify():
    return jsonify(station().audit.verification(g.principal))


@bp.get("/report")
@endpoint(summary="The auditor's report over the live log (HTML)", roles=REPORT_ROLES, response_type="text/html",
          responses={200: {"type": "string"}})
def report():
    response = Response(station().audit.report_html(g.principal), mimetype="text/html")
    # the report carries its own <style>; scripts stay forbidden
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'")
    return response
