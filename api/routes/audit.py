"""The auditor's read-only view of the match log."""
from flask import Blueprint, Response, g, jsonify
from flask_babel import get_locale

from station.audit.service import MAX_LOG_READ
from station.audit.transparency import REASONS
from station.i18n.languages import LANGUAGES
from station.security.roles import AUDIT_ROLES, REPORT_ROLES

from ..openapi import MAX_INT, endpoint
from ..requests import station

bp = Blueprint("audit", __name__, url_prefix="/api/audit")


@bp.get("/log")
@endpoint(summary="Signed entries of the match log after `after`, at most `limit`", roles=AUDIT_ROLES,
          query={"after": {"type": "integer", "minimum": 0, "maximum": MAX_INT, "default": 0},
                 "limit": {"type": "integer", "minimum": 0, "maximum": MAX_LOG_READ, "default": 200}},
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
@endpoint(summary="The auditor's report over the live log (HTML), in English or Urdu", roles=REPORT_ROLES,
          response_type="text/html", responses={200: {"type": "string"}},
          query={"lang": {"type": "string", "enum": list(LANGUAGES), "maxLength": 8,
                          "description": "the report's language; without it, the language of the caller's UI "
                                         "session, else the browser's Accept-Language, else English"}})
def report():
    lang = g.query["lang"] or str(get_locale() or "en")  # get_locale: api/i18n.py _select_locale
    response = Response(station().audit.report_html(g.principal, lang), mimetype="text/html")
    if g.query["lang"] is None:
        response.vary.update(("Accept-Language", "Cookie"))
    # the report carries its own <style> (and, in Urdu, its Nastaliq font as a data URI); scripts stay forbidden
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'")
    return response


CHECKPOINT = {"type": "object", "required": ["tree_size", "origin", "root", "reason", "taken_at", "note"],
              "properties": {"tree_size": {"type": "integer"}, "origin": {"type": "string"},
                             "root": {"type": "string", "description": "base64 of the RFC 9162 root hash"},
                             "reason": {"type": "string", "enum": list(REASONS)},
                             "taken_at": {"type": "string"},
                             "note": {"type": "string", "description": "the C2SP signed note (tlog-checkpoint)"}}}


@bp.get("/checkpoint")
@endpoint(summary="The newest signed checkpoint of the log's Merkle tree (RFC 9162 root in a C2SP signed note); "
                  "404 before the first", roles=AUDIT_ROLES, responses={200: CHECKPOINT})
def checkpoint():
    return jsonify(station().transparency.latest(g.principal))


@bp.get("/checkpoint.png")
@endpoint(summary="The newest signed checkpoint as a PNG QR code (the note's text), for observers to photograph",
          roles=AUDIT_ROLES, response_type="image/png", responses={200: {"type": "string", "format": "binary"}})
def checkpoint_qr():
    return Response(station().transparency.latest_png(g.principal), mimetype="image/png",
                    headers={"Cache-Control": "no-store"})
