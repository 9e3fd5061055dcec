from flask import Blueprint, g, jsonify

from ..requests import authenticated, json_body, station

bp = Blueprint("verifications", __name__, url_prefix="/api/verifications")


@bp.post("")
@authenticated
def start():
    """{"cnic": "..."} for a typed or scanned CNIC, or {"card": true} to read the CNIC card in the reader."""
    body = json_body()
    if body.get("card") is True and "cnic" not in body:
        view = station().start_verification_from_card(g.principal)
    else:
        view = station().start_verification(g.principal, body.get("cnic"))
    return jsonify(view.to_dict()), 201


@bp.get("/<session_id>")
@authenticated
def get(session_id: str):
    return jsonify(station().get_verification(g.principal, session_id).to_dict())


@bp.post("/<session_id>/fingerprint")
@authenticated
def fingerprint(session_id: str):
    body = json_body(required=False)
    return jsonify(station().capture_fingerprint(g.principal, session_id, body.get("finger")).to_dict())


@bp.post("/<session_id>/face")
@authenticated
def face(session_id: str):
    json_body(required=False)
    return jsonify(station().capture_face(g.principal, session_id).to_dict())


@bp.post("/<session_id>/exception")
@authenticated
def exception(session_id: str):
    body = json_body()
    return jsonify(station().record_exception(g.principal, session_id, body.get("reason"), body.get("note")).to_dict())


@bp.post("/<session_id>/ballot")
@authenticated
def ballot(session_id: str):
    json_body(required=False)
    return jsonify(station().issue_ballot(g.principal, session_id).to_dict())
