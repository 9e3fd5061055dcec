from flask import Blueprint, jsonify

from ..requests import station

bp = Blueprint("health", __name__)


@bp.get("/api/health")
def health():
    s = station()
    return jsonify({"status": "ok", "station": s.config.station.id, "profile": s.config.profile})
