"""Who may call which API endpoint, written by hand from the README's API table (README.md, "The API").

Deliberately NOT read from station/security/roles.py or from the endpoint declarations: a role set changed in the code
without the README (or the other way round) must fail the tests that use this table (tests/api/test_api_roles.py, the
role matrix; tests/api/test_api_fuzz.py, which fuzzes each role on the operations it may call). A route added to the
app must be added to API_TABLE by hand (and to the README's table)."""
from __future__ import annotations

import re

# the test users (tests/support/stations.py PASSWORDS) and their roles
USERS = {"officer": "polling_officer", "presiding": "presiding_officer", "tech": "technician", "auditor": "auditor",
         "regofficer": "registration_officer", "registrar": "registrar"}

# --- the README's words for groups of roles, transcribed by hand ---
PUBLIC = "public"  # no token needed (README: "Every endpoint but /api/health and /api/auth/login needs ..."; openapi)
ALL = ("polling_officer", "presiding_officer", "technician", "auditor", "registration_officer", "registrar")
OFFICERS = ("polling_officer", "presiding_officer")
REGISTRATION_STAFF = ("registration_officer", "registrar")
PRESIDING = ("presiding_officer",)
REGISTRAR = ("registrar",)
AUDITOR = ("auditor",)
SIM = (*OFFICERS, *REGISTRATION_STAFF, "technician")  # "officers, registration staff, technician"
DEVICES = ("technician", "presiding_officer")  # "technician, presiding officer"
SUMMARY = (*OFFICERS, "auditor")  # "officers, auditor"
AUDIT_LOG = ("auditor", "presiding_officer")  # "auditor, presiding officer"
KEYS = ("presiding_officer", "registrar")  # "presiding officer, registrar"
LOCKOUTS = ("technician", "auditor")  # "technician, auditor"
TECHNICIAN = ("technician",)  # "technician"

# (method, path as the README writes it) -> roles allowed. Transcribed from README.md; keep the two in step.
API_TABLE = {
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): ALL,
    ("GET", "/api/auth/lockouts"): LOCKOUTS,
    ("POST", "/api/auth/lockouts/clear"): TECHNICIAN,
    ("POST", "/api/verifications"): OFFICERS,
    ("POST", "/api/verifications/{id}/fingerprint"): OFFICERS,
    ("POST", "/api/verifications/{id}/face"): OFFICERS,
    ("POST", "/api/verifications/{id}/exception"): PRESIDING,
    ("POST", "/api/verifications/{id}/ballot"): OFFICERS,
    ("GET", "/api/verifications/{id}"): OFFICERS,
    ("GET", "/api/voters/{cnic}"): OFFICERS,
    ("POST", "/api/sim/fingerprint"): SIM,
    ("POST", "/api/sim/face"): SIM,
    ("POST", "/api/sim/card"): SIM,
    ("POST", "/api/sim/fault"): SIM,
    ("POST", "/api/sim/power"): SIM,
    ("POST", "/api/sim/power"): SIM,
    ("GET", "/api/power"): ALL,
    ("POST", "/api/registrations"): REGISTRATION_STAFF,
    ("GET", "/api/registrations/{id}"): REGISTRATION_STAFF,
    ("POST", "/api/registrations/{id}/fingerprint"): REGISTRATION_STAFF,
    ("POST", "/api/registrations/{id}/face"): REGISTRATION_STAFF,
    ("POST", "/api/registrations/{id}/exception"): REGISTRATION_STAFF,
    ("POST", "/api/registrations/{id}/submit"): REGISTRATION_STAFF,
    ("POST", "/api/registrations/{id}/cancel"): REGISTRATION_STAFF,
    ("GET", "/api/registrations/{id}/exception-photo/{position}"): REGISTRAR,
    ("GET", "/api/adjudications"): REGISTRAR,
    ("POST", "/api/adjudications/{id}"): REGISTRAR,
    ("GET", "/api/health"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/roll/search"): OFFICERS,
    ("GET", "/api/summary"): SUMMARY,
    ("GET", "/api/devices"): DEVICES,
    ("POST", "/api/devices/{kind}/test"): DEVICES,
    ("GET", "/api/audit/log"): AUDIT_LOG,
    ("GET", "/api/audit/verify"): AUDIT_LOG,
    ("GET", "/api/audit/checkpoint"): AUDIT_LOG,
    ("GET", "/api/audit/checkpoint.png"): AUDIT_LOG,
    ("GET", "/api/audit/report"): AUDITOR,
    ("GET", "/api/keys"): ALL,
    ("POST", "/api/keys/unlock"): KEYS,
    ("GET", "/api/power"): ALL,  # README: "GET /api/power (all: ...)"
}


def route_shape(path: str) -> str:
    """A route's shape, whatever its parameters are called: /api/verifications/<session_id> (Flask),
    /api/verifications/{session_id} (OpenAPI) and /api/verifications/{id} (the README) are all
    /api/verifications/{}."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def roles_allowed(method: str, path: str):
    """The README's roles for an operation (a tuple of role names, or PUBLIC); KeyError for a route it lacks."""
    table = {(m.upper(), route_shape(p)): roles for (m, p), roles in API_TABLE.items()}
    return table[(method.upper(), route_shape(path))]
