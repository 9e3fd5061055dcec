from flask import Blueprint, g, jsonify

from station.security.roles import SUMMARY_ROLES

from ..openapi import OFFICERS, endpoint, ref
from ..requests import station

bp = Blueprint("voters", __name__, url_prefix="/api")


@bp.get("/voters/<cnic>")
@endpoint(summary="A voter of the roll by CNIC", roles=OFFICERS, responses={200: ref("Voter")})
def get(cnic: str):
    return jsonify(station().roll.voter(g.principal, cnic).to_dict())


@bp.get("/roll/search")
@endpoint(summary="This station's roll by CNIC (part of it) or name (Urdu or romanized)", roles=OFFICERS,
          query={"q": {"type": "string", "minLength": 1, "maxLength": 100},
                 "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
          required_query=("q",), responses={200: {"type": "array", "items": ref("Voter")}})
def search():
    found = station().roll.search(g.principal, g.query["q"], limit=g.query["limit"])
    return jsonify([v.to_dict() for v in found])


@bp.get("/summary")
@endpoint(summary="End-of-day summary: turnout by hour and gender, outcomes by mode",
          roles=SUMMARY_ROLES,
          responses={200: {"type": "object", "required": ["roll", "voted", "by_hour", "ballots_by_mode"]}})
def summary():
    return jsonify(station().polling.day_summary(g.principal))
