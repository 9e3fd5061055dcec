"""The auditor's read-only view of the match log."""
from flask import Blueprint, Response, g, jsonify, request

from station.errors import InvalidInput

from ..requests import authenticated, station

bp = Blueprint("audit", __name__, url_prefix="/api/audit")


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdigit():
        raise InvalidInput(f"{name} must be a non-negative integer")
    return int(raw)


@bp.get("/log")
@authenticated
def log():
    return jsonify(station().audit_entries(g.principal, _int_arg("after", 0), _int_arg("limit", 200)))


@bp.get("/verify")
@authenticated
def verify():
    return jsonify(station().audit_verification(g.principal))


@bp.get("/report")
@authenticated
def report():
    return Response(station().audit_report_html(g.principal), mimetype="text/html")
