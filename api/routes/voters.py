from flask import Blueprint, g, jsonify

from ..requests import authenticated, station

bp = Blueprint("voters", __name__, url_prefix="/api/voters")


@bp.get("/<cnic>")
@authenticated
def get(cnic: str):
    return jsonify(station().voter(g.principal, cnic).to_dict())
