"""Registration centre: a registration officer registers a person (card or typed CNIC, demographics, captures with
quality gates, exceptions), submits for the 1:N duplicate search; a registrar adjudicates the candidates."""
from flask import Blueprint, Response, g, jsonify

from ..openapi import CNIC, FINGER, REGISTRATION_STAFF, body, endpoint, ref
from ..requests import station

bp = Blueprint("registrations", __name__, url_prefix="/api")
REGISTRAR = ("registrar",)
_TEXT = {"type": "string", "maxLength": 200}
DEMOGRAPHICS = {"type": "object", "title": "demographics", "additionalProperties": False,
                "properties": {name: {**_TEXT, "title": name} for name in (
                    "name_en", "name_ur", "relation", "relative_name_en", "relative_name_ur", "gender",
                    "date_of_birth", "address_en", "address_ur", "census_block", "family_number")}}
START = body({"cnic": CNIC, "card": {"type": "boolean", "title": "card",
                                     "description": "true: CNIC, names, date of birth and gender from the card"},
              "demographics": DEMOGRAPHICS,
              "polling_station": {"type": ["string", "null"], "title": "polling_station", "maxLength": 32}})
EMPTY = body({})
REGISTRATION = {200: ref("Registration")}


@bp.post("/registrations")
@endpoint(summary="Start a registration from a typed CNIC and demographics, or {card: true} to read the card",
          roles=REGISTRATION_STAFF, body=START, responses={201: ref("Registration")})
def start():
    b, service = g.body, station().registration
    if b.get("card") is True and "cnic" not in b:
        view = service.start_from_card(g.principal, b.get("demographics"), b.get("polling_station"))
    else:
        view = service.start(g.principal, b.get("cnic"), b.get("demographics"), b.get("polling_station"))
    return jsonify(view.to_dict()), 201


@bp.get("/registrations/<session_id>")
@endpoint(summary="A registration's state", roles=REGISTRATION_STAFF, responses=REGISTRATION)
def get(session_id: str):
    return jsonify(station().registration.get(g.principal, session_id).to_dict())


@bp.post("/registrations/<session_id>/fingerprint")
@endpoint(summary="Capture a finger (default: the next missing one); the best capture is kept", roles=REGISTRATION_STAFF,
          body=body({"finger": FINGER}), body_required=False, responses=REGISTRATION)
def fingerprint(session_id: str):
    return jsonify(station().registration.capture_finger(g.principal, session_id, g.body.get("finger")).to_dict())


@bp.post("/registrations/<session_id>/face")
@endpoint(summary="Capture the face with the quality checks; the best capture is kept", roles=REGISTRATION_STAFF,
          body=EMPTY, body_required=False, responses=REGISTRATION)
def face(session_id: str):
    return jsonify(station().registration.capture_face(g.principal, session_id).to_dict())


@bp.post("/registrations/<session_id>/exception")
@endpoint(summary="A missing or unusable finger (or face): a reason, and a photo the camera takes now",
          roles=REGISTRATION_STAFF,
          body=body({"position": {"type": "string", "title": "position", "maxLength": 16},
                     "reason": {"type": "string", "title": "reason", "maxLength": 64}}, required=("position", "reason")),
          responses=REGISTRATION)
def exception(session_id: str):
    return jsonify(station().registration.record_exception(g.principal, session_id, g.body["position"],
                                                           g.body["reason"]).to_dict())


@bp.post("/registrations/<session_id>/submit")
@endpoint(summary="Run the 1:N duplicate search: no candidate adds the person to the roll as pending, otherwise "
                  "the registration goes to the adjudication queue", roles=REGISTRATION_STAFF, body=EMPTY,
          body_required=False, responses=REGISTRATION)
def submit(session_id: str):
    return jsonify(station().registration.submit(g.principal, session_id).to_dict())


@bp.post("/registrations/<session_id>/cancel")
@endpoint(summary="Abandon a registration (its captures are discarded)", roles=REGISTRATION_STAFF, body=EMPTY,
          body_required=False, responses=REGISTRATION)
def cancel(session_id: str):
    return jsonify(station().registration.cancel(g.principal, session_id).to_dict())


@bp.get("/registrations/<session_id>/exception-photo/<position>")
@endpoint(summary="The exception photo of a position (JPEG), for the registrar", roles=REGISTRAR,
          responses={200: {"type": "string", "format": "binary"}}, response_type="image/jpeg")
def exception_photo(session_id: str, position: str):
    data = station().registration.exception_photo(g.principal, session_id, position)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.get("/adjudications")
@endpoint(summary="The adjudication queue: registrations with duplicate candidates, oldest first", roles=REGISTRAR,
          responses={200: {"type": "array", "items": ref("Registration")}})
def queue():
    return jsonify([v.to_dict() for v in station().registration.queue(g.principal)])


@bp.post("/adjudications/<session_id>")
@endpoint(summary="The registrar's decision on a registration's candidates, with a note", roles=REGISTRAR,
          body=body({"decision": {"type": "string", "title": "decision", "enum": ["duplicate", "not_duplicate"]},
                     "note": {"type": "string", "title": "note", "maxLength": 1000}}, required=("decision", "note")),
          responses=REGISTRATION)
def decide(session_id: str):
    return jsonify(station().registration.decide(g.principal, session_id, g.body["decision"],
                                                 g.body["note"]).to_dict())
