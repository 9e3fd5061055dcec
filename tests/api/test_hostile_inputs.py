"""Inputs built to hurt the server answer 400 with a readable detail, never a 500 or a decoded bomb: JSON nested
far deeper than any request needs, and images whose header declares more pixels than a camera frame has."""
import base64
import json
import struct
import time
import zlib

import pytest
from sqlalchemy import func, select

from station.audit.service import MAX_LOG_READ
from station.db.models import EnrollmentCapture, EnrollmentSession, MatchLogEntry, VerificationSession
from tests.support.stations import PASSWORDS


def png_declaring(width: int, height: int, *, rows: int = 1) -> bytes:
    """A valid PNG header for a width x height grey image, with the pixel data of only ``rows`` zero rows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\x00" * (width + 1) * rows, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.fixture
def officer_headers(client):
    _, password = PASSWORDS["officer"]
    token = client.post("/api/auth/login", json={"username": "officer", "password": password}).json["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_a_400(client, depth):
    body = '{"username": ' + '{"a": ' * depth + "1" + "}" * depth + ', "password": "x"}'
    r = client.post("/api/auth/login", data=body, content_type="application/json")
    assert r.status_code == 400, r.data[:200]
    assert r.mimetype == "application/problem+json" and "nested" in r.json["detail"]


def test_a_body_over_the_limit_is_a_413(client, station):
    """config/default.toml's promise for server.max_body_bytes: 413, as problem+json naming the limit."""
    limit = station.config.server.max_body_bytes
    body = '{"username": "' + "x" * limit + '", "password": "x"}'
    r = client.post("/api/auth/login", data=body, content_type="application/json")
    assert r.status_code == 413, r.data[:200]
    assert r.mimetype == "application/problem+json" and f"limited to {limit} bytes" in r.json["detail"]


@pytest.mark.parametrize("width,height", [(8000, 8000), (30000, 30000), (2**16, 2**16 - 1)])
def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(client, officer_headers, width, height):
    image = base64.b64encode(png_declaring(width, height)).decode()
    started = time.perf_counter()
    r = client.post("/api/sim/face", json={"image": image}, headers=officer_headers)
    assert r.status_code == 400, r.data[:300]
    assert "too large" in r.json["detail"]
    assert time.perf_counter() - started < 2  # refused from the header: no decode of width x height pixels


def test_a_truncated_or_corrupt_image_is_a_400(client, officer_headers):
    for data in (png_declaring(64, 64, rows=1)[:40], b"\xff\xd8\xff\xe0" + b"\x00" * 50):
        r = client.post("/api/sim/face", json={"image": base64.b64encode(data).decode()}, headers=officer_headers)
        assert r.status_code == 400, r.data[:300]


# A NUL character (U+0000) where the station looks something up or stores text. SQLite stores it; PostgreSQL's text
# cannot, and its driver raised DataError: a 500 on PostgreSQL only (found by the fuzzer, tests/api/test_api_fuzz.py,
# on PostgreSQL). It is bad input on both: 400 problem+json naming the NUL, before any lookup. DB_TESTS (Makefile)
# runs this file on PostgreSQL too.
NUL_REQUESTS = [
    ("login", "POST", "/api/auth/login", {"json": {"username": "off\x00icer", "password": "x" * 12}}, None),
    ("a JSON key", "POST", "/api/verifications", {"json": {"cnic\x00": "12345-1234567-1"}}, "officer"),
    ("a verification id", "GET", "/api/verifications/ab%00cd", {}, "officer"),
    ("a capture's verification id", "POST", "/api/verifications/ab%00cd/fingerprint", {"json": {}}, "officer"),
    ("a voter's CNIC", "GET", "/api/voters/12345-1234567-1%00", {}, "officer"),
    ("the roll search", "GET", "/api/roll/search?q=Kh%00an", {}, "officer"),
    ("a registration id", "GET", "/api/registrations/ab%00cd", {}, "regofficer"),
    ("an adjudication", "POST", "/api/adjudications/ab%00cd", {"json": {"decision": "duplicate", "note": "n"}},
     "registrar"),
    ("the sign-in form", "POST", "/login", {"data": {"username": "off\x00icer", "password": "x", "csrf_token": "x"}},
     None),
]


@pytest.mark.parametrize("what, method, url, kwargs, who", NUL_REQUESTS, ids=[r[0] for r in NUL_REQUESTS])
def test_a_nul_character_is_a_400_never_a_database_error(client, tokens, what, method, url, kwargs, who):
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
    r = client.open(url, method=method, headers=headers, **kwargs)
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json" and "NUL character" in r.json["detail"]


def table_counts(station) -> tuple[int, ...]:
    """Rows of every table a refused request could have written to: the match log, verifications, registrations and
    their captures (equal before and after: the request lost nothing and left nothing half-written)."""
    with station.transaction() as s:
        return tuple(s.scalar(select(func.count()).select_from(table))
                     for table in (MatchLogEntry, VerificationSession, EnrollmentSession, EnrollmentCapture))


# A lone UTF-16 surrogate (U+D800 to U+DFFF), written as a JSON escape: json.loads accepts it, but no database can
# store it (UTF-8 cannot encode it): it was a 500 (UnicodeEncodeError) at the first query. A 400 at the body parser.
PERSON = {"name_en": "Test Person", "relation": "father", "relative_name_en": "Test Father", "gender": "male",
          "date_of_birth": "1985-04-12", "address_en": "Chattar, Muzaffarabad"}
NEW_CNIC = "83901-0000001-1"  # on no roll: odd last digit, male
SURROGATE_REQUESTS = [
    ("login", "/api/auth/login", {"username": "\ud800off", "password": "x" * 12}, None),
    ("a JSON key", "/api/verifications", {"cnic\udfff": "12345-1234567-1"}, "officer"),
    ("registration demographics", "/api/registrations",
     {"cnic": NEW_CNIC, "demographics": {**PERSON, "name_en": "Ali \udc00"}}, "regofficer"),
    ("registration polling station", "/api/registrations",
     {"cnic": NEW_CNIC, "demographics": PERSON, "polling_station": "PS-\ud83d"}, "regofficer"),
    ("an adjudication note", "/api/adjudications/no-such-registration", {"decision": "duplicate", "note": "\ud800"},
     "registrar"),
]


def post_json_text(client, url: str, body: dict, headers: dict):
    """POST ``body`` as JSON text written with escapes (json.dumps writes a lone surrogate as the escape \\udXXX)."""
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def assert_lone_surrogate_refused(r) -> None:
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json" and "lone surrogate" in r.json["detail"]


@pytest.mark.parametrize("what, url, body, who", SURROGATE_REQUESTS, ids=[r[0] for r in SURROGATE_REQUESTS])
def test_a_lone_surrogate_is_a_400_never_a_database_error(client, tokens, station, what, url, body, who):
    before = table_counts(station)
    r = post_json_text(client, url, body, {"Authorization": f"Bearer {tokens[who]}"} if who else {})
    assert_lone_surrogate_refused(r)
    assert table_counts(station) == before


def test_a_lone_surrogate_in_the_exception_note_is_a_400_and_the_verification_unchanged(client, tokens, station,
                                                                                        voters):
    officer, presiding = ({"Authorization": f"Bearer {tokens[who]}"} for who in ("officer", "presiding"))
    started = client.post("/api/verifications", json={"cnic": voters.take().cnic}, headers=officer)
    assert started.status_code == 201, started.json
    before = table_counts(station)
    r = post_json_text(client, f"/api/verifications/{started.json['id']}/exception",
                       {"reason": "other", "note": "prints worn \udbff"}, presiding)
    assert_lone_surrogate_refused(r)
    assert table_counts(station) == before
    assert client.get(f"/api/verifications/{started.json['id']}", headers=officer).json == started.json


# Digits outside ASCII: str.isdigit() accepts superscripts (int() then raised: a 500) and reads Arabic-Indic and
# full-width digits as numbers; a query integer is ASCII digits only.
@pytest.mark.parametrize("value", ["%C2%B2", "%D9%A1", "%EF%BC%91", "1%C2%B9", "%E0%A5%A7"],
                         ids=["superscript two", "Arabic-Indic one", "full-width one", "one and superscript one",
                              "Devanagari one"])
@pytest.mark.parametrize("name", ["limit", "after"])
def test_an_integer_query_of_non_ascii_digits_is_a_400(client, tokens, name, value):
    r = client.get(f"/api/audit/log?{name}={value}", headers={"Authorization": f"Bearer {tokens['auditor']}"})
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json"
    assert r.json["detail"] == f"{name} must be a non-negative integer"


def test_the_audit_log_limit_is_what_the_document_says(client, tokens):
    """limit=0 is no entries (it was one); the most one read returns is the document's maximum, and a larger limit is
    a 400 naming it (it was silently cut to 1000 under a documented maximum of 2^31-1)."""
    auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
    assert len(client.get("/api/audit/log?limit=1", headers=auditor).json) == 1  # the log is not empty
    r = client.get("/api/audit/log?limit=0", headers=auditor)
    assert r.status_code == 200 and r.json == []
    spec = client.get("/api/openapi.json").json["paths"]["/api/audit/log"]["get"]
    limit = next(p for p in spec["parameters"] if p["name"] == "limit")["schema"]
    assert limit["minimum"] == 0 and limit["maximum"] == MAX_LOG_READ
    assert client.get(f"/api/audit/log?limit={MAX_LOG_READ}", headers=auditor).status_code == 200
    r = client.get(f"/api/audit/log?limit={MAX_LOG_READ + 1}", headers=auditor)
    assert r.status_code == 400 and r.json["detail"] == f"limit must be between 0 and {MAX_LOG_READ}"


# A frame smaller than a face detector can look at (1 x 1, 2 x 3 pixels) made dlib's CNN detector raise a
# RuntimeError: a 500 on the registration's face capture. It is a capture with no face found: a counted attempt.
@pytest.fixture
def camera(station):
    yield
    station.devices.open("camera").withdraw()  # as the session station started: no one in front of the camera


@pytest.mark.parametrize("width, height", [(1, 1), (2, 3), (300, 2)])
def test_a_tiny_camera_frame_is_a_counted_face_capture_with_no_face_found(client, tokens, station, camera, width,
                                                                          height):
    regofficer = {"Authorization": f"Bearer {tokens['regofficer']}"}
    image = base64.b64encode(png_declaring(width, height, rows=height)).decode()
    assert client.post("/api/sim/face", json={"image": image}, headers=regofficer).status_code == 200
    started = client.post("/api/registrations", headers=regofficer,
                          json={"cnic": f"83902-{width:03d}{height:04d}-1", "demographics": PERSON})
    assert started.status_code == 201, started.json
    r = client.post(f"/api/registrations/{started.json['id']}/face", json={}, headers=regofficer)
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:300])
    face = next(c for c in r.json["captures"] if c["position"] == "face")
    assert face["attempts"] == 1 and face["status"] == "retry" and "no face found" in face["feedback"]
    assert client.post(f"/api/registrations/{started.json['id']}/cancel", headers=regofficer).status_code == 200


# A finger capture asked for when no finger is next - the face is, or the registration is no longer capturing - was
# a 400 naming the face or None as an unknown finger. It is a 409 (the registration's state), which changes nothing.
def test_a_finger_capture_when_no_finger_is_next_is_a_409(client, tokens, station, camera):
    regofficer = {"Authorization": f"Bearer {tokens['regofficer']}"}
    assert client.post("/api/sim/face", json={"image": base64.b64encode(png_declaring(64, 48, rows=48)).decode()},
                       headers=regofficer).status_code == 200  # what the exception photos show
    reg = client.post("/api/registrations", json={"cnic": "83903-0000001-1", "demographics": PERSON},
                      headers=regofficer).json
    while reg["next_position"] != "face":
        reg = client.post(f"/api/registrations/{reg['id']}/exception",
                          json={"position": reg["next_position"], "reason": "amputated"}, headers=regofficer).json
    before = table_counts(station)
    r = client.post(f"/api/registrations/{reg['id']}/fingerprint", json={}, headers=regofficer)
    assert r.status_code == 409, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json" and r.json["detail"] == "no finger is next: capture the face"
    assert table_counts(station) == before
    assert client.get(f"/api/registrations/{reg['id']}", headers=regofficer).json == reg
    reg = client.post(f"/api/registrations/{reg['id']}/cancel", headers=regofficer).json
    r = client.post(f"/api/registrations/{reg['id']}/fingerprint", json={}, headers=regofficer)
    assert r.status_code == 409, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.json["detail"] == "cannot capture: this registration is CANCELLED"
    assert client.get(f"/api/registrations/{reg['id']}", headers=regofficer).json == reg


# Bidirectional overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069) reorder what a name shows: "Ali
# \u202enahK" displays as "Ali Khan" but is stored, and searched, as something else. A 400 naming the field. The
# joiners Urdu typing uses (U+200C, U+200D) and the plain direction marks (U+200E, U+200F) reorder nothing: accepted.
@pytest.mark.parametrize("field, text", [("name_en", "Ali \u202enahK"), ("address_en", "Chattar \u202aX\u202c"),
                                         ("name_ur", "\u2067علی\u2069"), ("relative_name_en", "Test \u2066F\u2069"),
                                         ("address_ur", "چھتر\u202b")])
def test_a_bidirectional_control_in_a_roll_field_is_a_400_naming_the_field(client, tokens, station, field, text):
    regofficer = {"Authorization": f"Bearer {tokens['regofficer']}"}
    before = table_counts(station)
    r = client.post("/api/registrations", json={"cnic": NEW_CNIC, "demographics": {**PERSON, field: text}},
                    headers=regofficer)
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json"
    assert r.json["detail"].startswith(field) and "bidirectional" in r.json["detail"]
    assert table_counts(station) == before


def test_urdu_joiners_and_direction_marks_in_a_roll_field_are_accepted(client, tokens):
    regofficer = {"Authorization": f"Bearer {tokens['regofficer']}"}
    person = {**PERSON, "name_ur": "عل\u200cی\u200d", "address_en": "Chattar\u200e, Muzaffarabad\u200f"}
    r = client.post("/api/registrations", json={"cnic": "83904-0000001-1", "demographics": person},
                    headers=regofficer)
    assert r.status_code == 201, r.json
    assert client.post(f"/api/registrations/{r.json['id']}/cancel", headers=regofficer).status_code == 200
