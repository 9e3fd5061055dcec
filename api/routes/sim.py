"""Steering the simulated devices (simulated profile only), like MOSIP's mock device admin endpoints."""
from flask import Blueprint, g, jsonify

from ..requests import authenticated, json_body, station

bp = Blueprint("sim", __name__, url_prefix="/api/sim")


@bp.post("/fingerprint")
@authenticated
def fingerprint():
    body = json_body()
    return jsonify(station().sim_present_fingerprint(g.principal, body.get("cnic"), body.get("finger"),
                                                     body.get("quality", "normal")))


@bp.post("/face")
@authenticated
def face():
    body = json_body()
    return jsonify(station().sim_present_face(g.principal, body.get("cnic"), body.get("image")))


@bp.post("/card")
@authenticated
def card():
    """{"cnic": ..., "tamper": null | "bad-signature" | "altered-file" | "clone"} inserts a virtual card; {"remove": true}
    pulls it out."""
    body = json_body()
    if body.get("remove") is True:
        return jsonify(station().sim_remove_card(g.principal))
    return jsonify(station().sim_insert_card(g.principal, body.get("cnic"), body.get("tamper")))


@bp.post("/fault")
@authenticated
def fault():
    body = json_body()
    return jsonify(station().sim_fault(g.principal, body.get("kind"), body.get("fault"), body.get("count", 1)))
