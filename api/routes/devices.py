"""The technician's device screen over the API: list, test capture (fault injection is POST /api/sim/fault)."""
from flask import Blueprint, g, jsonify

from station.security.roles import DEVICE_ROLES

from ..openapi import endpoint
from ..requests import station

bp = Blueprint("devices", __name__, url_prefix="/api/devices")


@bp.get("")
@endpoint(summary="Configured devices with status and last error (and pending scripted faults on simulated ones)",
          roles=DEVICE_ROLES, responses={200: {"type": "array", "items": {"type": "object", "required": ["kind"]}}})
def list_devices():
    return jsonify(station().technician.screen_devices(g.principal))


@bp.post("/<kind>/test")
@endpoint(summary="One test capture on a device: timing, quality, errors", roles=DEVICE_ROLES,
          responses={200: {"type": "object", "required": ["kind", "failures", "errors"]}})
def test(kind: str):
    return jsonify(station().technician.screen_test(g.principal, kind))
