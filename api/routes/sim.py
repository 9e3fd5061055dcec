"""Steering the simulated devices (simulated profile only), like MOSIP's mock device admin endpoints."""
from flask import Blueprint, g, jsonify

from station.security.roles import SIM_ROLES

from ..openapi import CNIC, FINGER, body, endpoint
from ..requests import station

bp = Blueprint("sim", __name__, url_prefix="/api/sim")
OBJECT = {"type": "object"}


@bp.post("/fingerprint")
@endpoint(summary="What the simulated scanner presents next: a roll voter's finger (cnic) or a simulated person's "
                  "(person: registration tests, one person under two CNICs)", roles=SIM_ROLES,
          body=body({"cnic": CNIC, "person": {"type": "string", "title": "person", "maxLength": 64}, "finger": FINGER,
                     "quality": {"type": "string", "title": "quality", "maxLength": 32}}),
          responses={200: OBJECT})
def fingerprint():
    b = g.body
    if "person" in b:
        return jsonify(station().steering.present_person_finger(g.principal, b["person"], b.get("finger"),
                                                                        b.get("quality", "normal")))
    return jsonify(station().steering.present_fingerprint(g.principal, b.get("cnic"), b.get("finger"),
                                                     b.get("quality", "normal")))


@bp.post("/face")
@endpoint(summary="What the simulated camera sees: a voter's demo photo or a base64 image", roles=SIM_ROLES,
          body=body({"cnic": CNIC, "image": {"type": "string", "title": "image", "maxLength": 1_900_000}}),
          responses={200: OBJECT})
def face():
    return jsonify(station().steering.present_face(g.principal, g.body.get("cnic"), g.body.get("image")))


@bp.post("/card")
@endpoint(summary="Insert a virtual CNIC card ({cnic, tamper}) or pull it out ({remove: true})", roles=SIM_ROLES,
          body=body({"cnic": CNIC, "tamper": {"type": ["string", "null"], "title": "tamper", "maxLength": 32},
                     "remove": {"type": "boolean", "title": "remove"}}),
          responses={200: OBJECT})
def card():
    if g.body.get("remove") is True:
        return jsonify(station().steering.remove_card(g.principal))
    return jsonify(station().steering.insert_card(g.principal, g.body.get("cnic"), g.body.get("tamper")))


@bp.post("/power")
@endpoint(summary="The simulated battery: pull or restore the mains ({on_battery}) and/or set the charge "
                  "({percentage}, 0-100); the battery watch reads it at once", roles=SIM_ROLES,
          body=body({"on_battery": {"type": "boolean", "title": "on_battery"},
                     "percentage": {"type": "number", "title": "percentage", "minimum": 0, "maximum": 100}}),
          responses={200: OBJECT})
def power():
    s = station()
    answer = s.steering.set_power(g.principal, g.body.get("on_battery"), g.body.get("percentage"))
    s.power.check()  # the screens show it now, not at the next poll
    return jsonify(answer)


@bp.post("/fault")
@endpoint(summary="Script a fault on a simulated device: the next `count` operations fail", roles=SIM_ROLES,
          body=body({"kind": {"type": "string", "title": "kind", "maxLength": 32},
                     "fault": {"type": "string", "title": "fault", "maxLength": 32},
                     "count": {"type": "integer", "title": "count", "minimum": 1, "maximum": 100}}),
          responses={200: OBJECT})
def fault():
    b = g.body
    return jsonify(station().steering.fault(g.principal, b.get("kind"), b.get("fault"), b.get("count", 1)))
