from flask import Blueprint, jsonify

from ..requests import json_body, station

bp = Blueprint("auth", __name__)


@bp.post("/api/auth/login")
def login():
    body = json_body()
    return jsonify(station().login(body.get("username"), body.get("password")))
