from flask import Blueprint, g, jsonify

from station.security.roles import EXCEPTION_ROLES

from ..openapi import CNIC, FINGER, OFFICERS, body, endpoint, ref
from ..requests import station

bp = Blueprint("verifications", __name__, url_prefix="/api/verifications")

START = body({"cnic": CNIC, "card": {"type": "boolean", "title": "card",
                                     "description": "true: read the CNIC card in the reader instead"}})
EMPTY = body({})


@bp.post("")
@endpoint(summary="Start a verification from a typed/scanned CNIC, or {card: true} to read the card", roles=OFFICERS,
          body=START, responses={201: ref("Verification")})
def start():
    if g.body.get("card") is True and "cnic" not in g.body:
        view = station().polling.start_verification_from_card(g.principal)
    else:
        view = station().polling.start_verification(g.principal, g.body.get("cnic"))
    return jsonify(view.to_dict()), 201


@bp.get("/<session_id>")
@endpoint(summary="A verification's state", roles=OFFICERS, responses={200: ref("Verification")})
def get(session_id: str):
    return jsonify(station().polling.get_verification(g.principal, session_id).to_dict())


@bp.post("/<session_id>/fingerprint")
@endpoint(summary="Capture a fingerprint from the scanner, match and decide", roles=OFFICERS,
          body=body({"finger": FINGER}), body_required=False, responses={200: ref("Verification")})
def fingerprint(session_id: str):
    return jsonify(station().polling.capture_fingerprint(g.principal, session_id, g.body.get("finger")).to_dict())


@bp.post("/<session_id>/face")
@endpoint(summary="After the fingerprint attempts: capture the face and match", roles=OFFICERS, body=EMPTY,
          body_required=False, responses={200: ref("Verification")})
def face(session_id: str):
    return jsonify(station().polling.capture_face(g.principal, session_id).to_dict())


@bp.post("/<session_id>/exception")
@endpoint(summary="The presiding officer's exception with a reason code", roles=EXCEPTION_ROLES,
          body=body({"reason": {"type": "string", "title": "reason", "maxLength": 64},
                     "note": {"type": ["string", "null"], "title": "note", "maxLength": 500}}),
          responses={200: ref("Verification")})
def exception(session_id: str):
    return jsonify(station().polling.record_exception(g.principal, session_id, g.body.get("reason"),
                                              g.body.get("note")).to_dict())


@bp.post("/<session_id>/ballot")
@endpoint(summary="Issue the ballot (atomically: at most once per voter)", roles=OFFICERS, body=EMPTY,
          body_required=False, responses={200: ref("Verification")})
def ballot(session_id: str):
    return jsonify(station().polling.issue_ballot(g.principal, session_id).to_dict())
