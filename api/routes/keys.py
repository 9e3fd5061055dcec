"""The station keys: their state, and the unlock when the poll opens (keys.protection = "passphrase": until then the
station refuses every call that signs or decrypts with 409)."""
from flask import Blueprint, g, jsonify

from station.security.keystore import PROTECTIONS
from station.security.roles import KEY_UNLOCK_ROLES, ROLES

from ..openapi import body, endpoint
from ..requests import station

bp = Blueprint("keys", __name__, url_prefix="/api/keys")

STATUS = {"type": "object", "required": ["protection", "required", "locked"],
          "properties": {"protection": {"enum": list(PROTECTIONS)}, "required": {"enum": list(PROTECTIONS)},
                         "locked": {"type": "boolean"}}}
UNLOCK = body({"passphrase": {"type": "string", "title": "the key passphrase", "minLength": 1, "maxLength": 1024}},
              required=("passphrase",))


@bp.get("")
@endpoint(summary="How the station keys are kept at rest, and whether they are locked", roles=ROLES,
          responses={200: STATUS})
def status():
    return jsonify(station().keys.status(g.principal).to_dict())


@bp.post("/unlock")
@endpoint(summary="Unlock the station keys with the key passphrase when the poll opens (400 when it is wrong, 409 "
                  "when the keys are not sealed under a passphrase)", roles=KEY_UNLOCK_ROLES, body=UNLOCK,
          responses={200: STATUS})
def unlock():
    return jsonify(station().keys.unlock(g.principal, g.body["passphrase"]).to_dict())
