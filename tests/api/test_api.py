"""The Flask API in-process: authentication, roles, problem+json errors, the simulation endpoints."""
import pytest


def auth(tokens, user):
    return {"Authorization": f"Bearer {tokens[user]}"}


def test_health_needs_no_token(client):
    r = client.get("/api/health")
    assert r.status_code == 200 and r.json["status"] == "ok"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_every_other_endpoint_needs_a_valid_token(client, headers):
    r = client.post("/api/verifications", json={"cnic": "12345-1234567-1"}, headers=headers)
    assert r.status_code == 401
    assert r.mimetype == "application/problem+json" and r.json["detail"]


def test_login_failures_are_401_without_saying_which_part_was_wrong(client):
    for body in ({"username": "officer", "password": "wrong-password"}, {"username": "ghost", "password": "x" * 9}):
        r = client.post("/api/auth/login", json=body)
        assert r.status_code == 401 and r.json["detail"] == "wrong username or password"
    assert client.post("/api/auth/login", json={"username": 5}).status_code == 400


def test_expired_token_is_refused(client, station):
    import datetime as dt

    from sqlalchemy import update

    from station.db.models import ApiToken

    token = client.post("/api/auth/login", json={"username": "auditor", "password": "auditor-test-pass"}).json["token"]
    with station.transaction() as s:
        import hashlib
        s.execute(update(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
                  .values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)))
    r = client.get("/api/voters/12345-1234567-1", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "expired" in r.json["detail"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"json": {"cnic": "12345-123"}}, "invalid CNIC"),
    ({"data": ""}, "empty"),
    ({"data": "{not json", "content_type": "application/json"}, "JSON object"),
    ({"data": "[1, 2]", "content_type": "application/json"}, "JSON object"),
    ({"data": "cnic=1", "content_type": "application/x-www-form-urlencoded"}, "must be JSON"),
    ({"json": {"cnic": None}}, "CNIC must be a string"),
])  # a body over server.max_body_bytes is a 413: tests/api/test_hostile_inputs.py
def test_bad_input_is_400_with_a_readable_problem(client, tokens, kwargs, fragment):
    r = client.post("/api/verifications", headers=auth(tokens, "officer"), **kwargs)
    assert r.status_code == 400, r.json
    assert r.mimetype == "application/problem+json"
    assert fragment in r.json["detail"]


def test_roles_are_enforced(client, tokens, voters):
    cnic = voters.take().cnic
    assert client.post("/api/verifications", json={"cnic": cnic}, headers=auth(tokens, "auditor")).status_code == 403
    assert client.post("/api/verifications", json={"cnic": cnic}, headers=auth(tokens, "tech")).status_code == 403
    r = client.post("/api/verifications", json={"cnic": cnic}, headers=auth(tokens, "officer"))
    assert r.status_code == 201
    sid = r.json["id"]
    r = client.post(f"/api/verifications/{sid}/exception", json={"reason": "device_failure"}, headers=auth(tokens, "officer"))
    assert r.status_code == 403
    r = client.post(f"/api/verifications/{sid}/exception", json={"reason": "device_failure"},
                    headers=auth(tokens, "presiding"))
    assert r.status_code == 200 and r.json["state"] == "EXCEPTION"


def test_unknown_verification_and_voter_are_404(client, tokens):
    assert client.get("/api/verifications/nope", headers=auth(tokens, "officer")).status_code == 404
    assert client.get("/api/voters/12345-1234567-1", headers=auth(tokens, "officer")).status_code == 404
    assert client.get("/api/no-such-thing").status_code == 404
    assert client.get("/api/no-such-thing").mimetype == "application/problem+json"


def test_voter_lookup(client, tokens, station):
    voter = station.roll.list_voters(limit=1)[0]
    r = client.get(f"/api/voters/{voter.cnic.replace('-', '')}", headers=auth(tokens, "officer"))
    assert r.status_code == 200 and r.json["cnic"] == voter.cnic and r.json["name_ur"]


def test_simulation_endpoints_validate_and_fault(client, tokens, voters):
    h = auth(tokens, "tech")
    assert client.post("/api/sim/fingerprint", json={"cnic": "1"}, headers=h).status_code == 400
    assert client.post("/api/sim/fingerprint", json={"cnic": "12345-1234567-1", "quality": "muddy"}, headers=h).status_code == 400
    assert client.post("/api/sim/face", json={"image": "not base64!"}, headers=h).status_code == 400
    import base64
    r = client.post("/api/sim/face", json={"image": base64.b64encode(b"not an image").decode()}, headers=h)
    assert r.status_code == 400 and "image" in r.json["detail"]
    assert client.post("/api/sim/fault", json={"kind": "printer", "fault": "busy"}, headers=h).status_code == 400
    assert client.post("/api/sim/fault", json={"kind": "camera", "fault": "melt"}, headers=h).status_code == 400
    assert client.post("/api/sim/fault", json={"kind": "camera", "fault": "busy"}, headers=auth(tokens, "auditor")).status_code == 403
    voter = voters.take()
    o = auth(tokens, "officer")
    client.post("/api/sim/fingerprint", json={"cnic": voter.cnic}, headers=o)
    sid = client.post("/api/verifications", json={"cnic": voter.cnic}, headers=o).json["id"]
    r = client.post("/api/sim/fault", json={"kind": "fingerprint", "fault": "timeout"}, headers=h)
    assert r.status_code == 200 and r.json["pending_faults"] == ["timeout"]
    r = client.post(f"/api/verifications/{sid}/fingerprint", json={}, headers=o)
    assert r.status_code == 503 and "timed out" in r.json["detail"]
    r = client.post(f"/api/verifications/{sid}/fingerprint", json={"finger": "left_pinky"}, headers=o)
    assert r.status_code == 400
    r = client.post(f"/api/verifications/{sid}/fingerprint", json={}, headers=o)
    assert r.status_code == 200 and r.json["state"] == "VERIFIED"
