"""The API's contract, written once next to the code: each JSON endpoint is declared with ``@endpoint(...)`` (summary,
roles, request body schema, query parameters, responses). The same declaration

- authenticates the caller and enforces the role matrix before anything else (401, then 403),
- validates the request body and query against the JSON Schema (400 problem+json naming the field),
- and generates the OpenAPI 3.1 document served at ``/api/openapi.json`` (``build_document``).

The station services check roles again (defence in depth); the declaration here is what the role-matrix test and
the document show."""
from __future__ import annotations

import functools
import typing
from typing import Any, Callable

from flask import Flask, g, request
from jsonschema import Draft202012Validator

from station.config import FINGER_POSITIONS
from station.errors import InvalidInput
from station.security.roles import OFFICERS, REGISTRATION_STAFF, ROLES  # noqa: F401  (re-exported to the routes)
from station.security.throttle import Scope as LOCKOUT_SCOPE

from .requests import authenticate_request, json_body, refuse_nul_characters

PUBLIC = "public"
STATES = ("IDENTIFIED", "NOT_ON_ROLL", "ALREADY_VOTED", "VERIFIED", "NOT_VERIFIED", "EXCEPTION", "BALLOT_ISSUED")
MAX_INT = 2**31 - 1

_nullable_str = {"type": ["string", "null"]}
SCHEMAS: dict[str, dict] = {
    "Problem": {
        "type": "object", "required": ["type", "title", "status", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}},
    },
    "Voter": {
        "type": "object",
        "required": ["cnic", "name_en", "name_ur", "relation", "relative_name_en", "relative_name_ur", "gender",
                     "census_block", "family_number", "serial_number", "polling_station", "booth", "status", "voted",
                     "fingers", "has_face"],
        "properties": {
            "cnic": {"type": "string"}, "name_en": {"type": "string"}, "name_ur": {"type": "string"},
            "relation": {"type": "string"}, "relative_name_en": {"type": "string"},
            "relative_name_ur": {"type": "string"}, "gender": {"type": "string"}, "date_of_birth": {"type": "string"},
            "census_block": {"type": "string"}, "family_number": {"type": "string"}, "address_en": {"type": "string"},
            "address_ur": {"type": "string"}, "serial_number": {"type": "integer"},
            "polling_station": {"type": "string"}, "polling_station_name": {"type": "string"},
            "booth": {"type": "integer"}, "status": {"type": "string"}, "voted": {"type": "boolean"},
            "fingers": {"type": "array", "items": {"type": "string"}}, "has_face": {"type": "boolean"},
        },
    },
    "Attempt": {
        "type": "object", "required": ["modality", "position", "attempt", "outcome", "score", "threshold", "quality"],
        "properties": {
            "modality": {"enum": ["fingerprint", "face"]}, "position": {"type": "string"},
            "attempt": {"type": "integer"}, "outcome": {"enum": ["match", "no_match", "poor_quality"]},
            "score": {"type": "number"}, "threshold": {"type": "number"}, "quality": {"type": "integer"},
            "reason": _nullable_str,
        },
    },
    "Verification": {
        "type": "object",
        "required": ["id", "state", "cnic", "voter", "registered_at", "gender_mismatch", "next_step", "next_finger",
                     "fingerprint_attempts_left", "face_attempts_left", "message", "created_at"],
        "properties": {
            "id": {"type": "string"}, "state": {"enum": list(STATES)}, "cnic": {"type": "string"},
            "voter": {"oneOf": [{"$ref": "#/components/schemas/Voter"}, {"type": "null"}]},
            "registered_at": {"type": ["object", "null"]}, "gender_mismatch": {"type": "boolean"},
            "next_step": {"enum": ["fingerprint", "face", "exception", "ballot", None]},
            "next_finger": _nullable_str, "fingerprint_attempts_left": {"type": "integer", "minimum": 0},
            "face_attempts_left": {"type": "integer", "minimum": 0}, "decided_by": _nullable_str,
            "exception_reason": _nullable_str,
            "last_attempt": {"oneOf": [{"$ref": "#/components/schemas/Attempt"}, {"type": "null"}]},
            "message": {"type": "string"}, "created_at": {"type": "string"},
            "authority": {"type": ["object", "null"]},
        },
    },
    "Registration": {
        "type": "object",
        "required": ["id", "state", "cnic", "polling_station", "operator", "demographics", "captures", "missing",
                     "next_step", "next_position", "message", "candidates_found", "candidates", "decision", "decided_by",
                     "decision_note", "created_at"],
        "properties": {
            "id": {"type": "string"}, "state": {"enum": ["CAPTURING", "ADJUDICATION", "ENROLLED", "DUPLICATE", "CANCELLED"]},
            "cnic": {"type": "string"}, "polling_station": {"type": "string"}, "operator": {"type": "string"},
            "demographics": {"type": "object"},
            "captures": {"type": "array", "items": {
                "type": "object", "required": ["position", "modality", "status", "attempts", "attempts_left", "quality"],
                "properties": {"position": {"type": "string"}, "modality": {"enum": ["fingerprint", "face"]},
                               "status": {"enum": ["not_captured", "retry", "accepted", "below_gate", "exception"]},
                               "attempts": {"type": "integer"}, "attempts_left": {"type": "integer", "minimum": 0},
                               "quality": {"type": "integer"}, "feedback": _nullable_str,
                               "exception_reason": _nullable_str, "has_exception_photo": {"type": "boolean"}}}},
            "missing": {"type": "array", "items": {"type": "string"}},
            "next_step": {"enum": ["capture", "submit", "adjudication", None]}, "next_position": _nullable_str,
            "message": {"type": "string"}, "candidates_found": {"type": "integer", "minimum": 0},
            "candidates": {"type": "array", "description": "who the possible duplicates are: for a registrar only "
                           "(empty for registration officers, who get candidates_found)", "items": {
                "type": "object", "required": ["cnic", "polling_station", "status", "fingers_matched", "evidence"],
                "properties": {"cnic": {"type": "string"}, "name_en": {"type": "string"}, "name_ur": {"type": "string"},
                               "polling_station": {"type": "string"}, "status": {"type": "string"},
                               "fingerprint_score": {"type": ["number", "null"]},
                               "fingers_matched": {"type": "integer"}, "face_distance": {"type": ["number", "null"]},
                               "evidence": {"type": "array"}}}},
            "decision": {"enum": ["duplicate", "not_duplicate", None]}, "decided_by": _nullable_str,
            "decision_note": {"type": ["string", "null"], "description": "the registrar's note: for a registrar only"},
            "created_at": {"type": "string"},
        },
    },
    "Login": {
        "type": "object", "required": ["token", "role", "username", "expires_at"],
        "properties": {"token": {"type": "string"}, "role": {"enum": list(ROLES)}, "username": {"type": "string"},
                       "expires_at": {"type": "string"}},
    },
    "Logout": {"type": "object", "required": ["logged_out"], "properties": {"logged_out": {"const": True}}},
    "Lockouts": {
        "type": "object", "required": ["window_s", "entries", "more", "more_locked"], "additionalProperties": False,
        "properties": {"window_s": {"type": "integer"}, "more": {"type": "integer", "minimum": 0},
                       "more_locked": {"type": "integer", "minimum": 0},
                       "entries": {"type": "array", "items": {
            "type": "object",
            "required": ["scope", "username", "unknown_username", "address", "failures", "limit", "locked_for_s"],
            "additionalProperties": False,
            "properties": {"scope": {"enum": list(typing.get_args(LOCKOUT_SCOPE))},
                           "username": _nullable_str, "unknown_username": {"type": "boolean"},
                           "address": _nullable_str, "failures": {"type": "integer", "minimum": 1},
                           "limit": {"type": "integer"}, "locked_for_s": {"type": "integer", "minimum": 0}}}}},
    },
    "LockoutCleared": {"type": "object", "required": ["username", "address", "cleared"], "additionalProperties": False,
                       "properties": {"username": _nullable_str, "address": _nullable_str,
                                      "cleared": {"type": "boolean"}}},
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _resolved(schema: dict) -> dict:
    """The request schema with component references inlined (request bodies use none today; kept simple)."""
    return schema


def _field_name(error) -> str:
    path = [str(p) for p in error.absolute_path]
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    return title or (".".join(path) if path else "request body")


_ARTICLE = {"string": "a string", "integer": "an integer", "boolean": "true or false", "object": "a JSON object",
            "number": "a number", "array": "a list", "null": "null"}


def _message(error) -> str:
    name = _field_name(error)
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{name} must be {' or '.join(_ARTICLE.get(t, t) for t in wanted)}"
    if error.validator == "required":
        return f"{error.message.split(' ')[0].strip(chr(39))} is required"
    if error.validator == "additionalProperties":
        return f"{error.message} (see /api/openapi.json)"
    if error.validator == "enum":
        return f"{name} must be one of: {', '.join(str(v) for v in error.validator_value)}"
    if error.validator in ("minProperties", "maxProperties"):
        fields = ", ".join(error.schema.get("properties", {}))
        most = "at least" if error.validator == "minProperties" else "at most"
        return f"{name}: give {most} {error.validator_value} of {fields}"
    if error.validator == "maxLength":
        return f"{name} is too long (at most {error.validator_value} characters)"
    if error.validator in ("minimum", "maximum"):
        return f"{name}: {error.message}"
    return f"{name}: {error.message}"


def validate(instance: Any, schema: dict, what: str = "request body") -> None:
    errors = sorted(Draft202012Validator(schema).iter_errors(instance), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        raise InvalidInput(_message(errors[0]))


def _int_query(name: str, spec: dict) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return spec.get("default")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:  # isdigit alone: also ² and Arabic-Indic digits
        raise InvalidInput(f"{name} must be a non-negative integer")
    value = int(raw)
    lo, hi = spec.get("minimum", 0), spec.get("maximum", MAX_INT)
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be between {lo} and {hi}")
    return value


def _str_query(name: str, spec: dict, required: bool) -> str | None:
    raw = request.args.get(name)
    if raw is not None and "enum" in spec and raw not in spec["enum"]:  # "" too: not one of the values
        raise InvalidInput(f"{name} must be one of: {', '.join(spec['enum'])}")
    if raw is None or raw == "":
        if required:
            raise InvalidInput(f"query parameter {name} is required")
        return None
    if len(raw) > spec.get("maxLength", 200):
        raise InvalidInput(f"{name} is too long (at most {spec.get('maxLength', 200)} characters)")
    return raw


def endpoint(*, summary: str, roles: tuple[str, ...] | str, body: dict | None = None, body_required: bool = True,
             query: dict[str, dict] | None = None, required_query: tuple[str, ...] = (),
             responses: dict[int, dict | None] | None = None, tags: tuple[str, ...] = (),
             response_type: str = "application/json") -> Callable:
    """Declare, authorise and validate a JSON endpoint. ``roles`` is a tuple of role names or ``PUBLIC``. The view
    reads the validated body from ``g.body`` and the query from ``g.query``."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if roles != PUBLIC:
                g.principal = authenticate_request()
                g.principal.require(*roles)
            refuse_nul_characters()  # PostgreSQL's text cannot hold U+0000: a 400 on both databases
            if body is not None:
                g.body = json_body(required=body_required)
                validate(g.body, body)
            else:
                g.body = {}
            g.query = {}
            for name, spec in (query or {}).items():
                if spec.get("type") == "integer":
                    g.query[name] = _int_query(name, spec)
                else:
                    g.query[name] = _str_query(name, spec, name in required_query)
            return view(*args, **kwargs)

        wrapper.api_spec = {"summary": summary, "roles": roles, "body": body, "body_required": body_required,
                            "query": query or {}, "required_query": required_query,
                            "responses": responses or {200: None}, "tags": tags, "response_type": response_type}
        return wrapper

    return decorate


# --- request bodies (JSON Schema; "title" names the field in error messages) ---
CNIC = {"type": "string", "title": "CNIC", "maxLength": 32, "description": "13 digits, dashes optional"}
FINGER = {"type": ["string", "null"], "title": "finger", "enum": [*FINGER_POSITIONS, None]}


def body(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


# --- the document ---
_PROBLEMS = {
    400: "bad input: malformed, empty, non-JSON or oversized body, or a field that fails validation",
    401: "no, unknown or expired token (or session)",
    403: "this role may not call this endpoint (or the browser session's CSRF token is missing)",
    404: "unknown verification, voter or resource",
    409: "the request contradicts the state (a second ballot, polls closed)",
    422: "the CNIC card failed its checks",
    429: "too many failed logins for this username or from this address: see Retry-After",
    503: "a device fault or a station that is not initialised (the operator may retry)",
}


def _path(rule: str) -> tuple[str, list[dict]]:
    import re

    params = []
    for name in re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule):
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}})
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule), params


def build_document(app: Flask) -> dict:
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        spec = getattr(view, "api_spec", None)
        if spec is None or not rule.rule.startswith("/api/"):
            continue
        path, params = _path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {"operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
                                  "summary": spec["summary"], "tags": list(spec["tags"]) or [rule.endpoint.split(".")[0]],
                                  "x-roles": "public" if spec["roles"] == PUBLIC else list(spec["roles"])}
            parameters = list(params)
            for name, schema in spec["query"].items():
                parameters.append({"name": name, "in": "query", "required": name in spec["required_query"],
                                   "schema": schema})
            if parameters:
                op["parameters"] = parameters
            if spec["body"] is not None:
                op["requestBody"] = {"required": spec["body_required"],
                                     "content": {"application/json": {"schema": spec["body"]}}}
            responses: dict[str, Any] = {}
            for status, schema in spec["responses"].items():
                content_type = spec["response_type"]
                content = {content_type: {"schema": schema}} if schema is not None else {content_type: {}}
                responses[str(status)] = {"description": "success", "content": content}
            problems = [400, 404, 409, 422, 503]
            if spec["roles"] != PUBLIC:
                problems += [401, 403]
            if rule.endpoint == "auth.login":
                problems += [401, 429]
            for status in sorted(set(problems)):
                response: dict[str, Any] = {"description": _PROBLEMS[status],
                                            "content": {"application/problem+json": {"schema": ref("Problem")}}}
                if status == 429:
                    response["headers"] = {"Retry-After": {"schema": {"type": "string"}, "required": True,
                                                           "description": "seconds"}}
                responses[str(status)] = response
            op["responses"] = responses
            if spec["roles"] != PUBLIC:
                op["security"] = [{"bearer": []}, {"session": []}]
            else:
                op["security"] = []
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Voter Station API", "version": "1",
                 "description": "Biometric voter verification station. Errors are application/problem+json. "
                                "x-roles lists the roles allowed on each operation."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "POST /api/auth/login"},
                "session": {"type": "apiKey", "in": "cookie", "name": "station_session",
                            "description": "the browser UI's session: an opaque id, the session is kept on the "
                                           "server; unsafe methods also need X-CSRF-Token"},
            },
        },
    }
