"""Inputs built to hurt the server answer 400 with a readable detail, never a 500 or a decoded bomb: JSON nested
far deeper than any request needs, and images whose header declares more pixels than a camera frame has."""
import base64
import struct
import time
import zlib

import pytest

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
