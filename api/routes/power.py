"""The station's power: the last reading of the battery watch (station/service/power.py), what every screen shows."""
from flask import Blueprint, g, jsonify

from station.security.roles import ROLES

from ..openapi import endpoint
from ..requests import station

bp = Blueprint("power", __name__, url_prefix="/api/power")

READING = {"type": ["object", "null"],
           "properties": {"on_battery": {"type": "boolean"}, "battery_present": {"type": "boolean"},
                          "percentage": {"type": ["number", "null"]}, "state": {"type": "string"},
                          "time_to_empty_s": {"type": ["integer", "null"]}}}
STATUS = {"type": "object", "required": ["reading", "low", "warn", "low_percent", "error", "checked_at"],
          "properties": {"reading": READING, "low": {"type": "boolean"}, "warn": {"type": "boolean"},
                         "low_percent": {"type": "number"}, "error": {"type": ["string", "null"]},
                         "checked_at": {"type": ["string", "null"]}}}


@bp.get("")
@endpoint(summary="The battery and mains as last read (every power.poll_seconds while serving): reading null before "
                  "the first or when it failed (error says why); low below power.low_percent on battery",
          roles=ROLES, responses={200: STATUS})
def status():
    return jsonify(station().power.screen_status(g.principal).to_dict())
