"""Times the API reports are UTC with their offset, before and after storage: SQLite gives the stored datetimes back
without their timezone, and a verification or registration read back reported a naive "2026-12-07T02:18:04.083555"
where it had answered "...+00:00" when made."""
import datetime as dt

from tests.api.test_hostile_inputs import PERSON


def assert_utc_iso(text: str) -> None:
    assert dt.datetime.fromisoformat(text).utcoffset() == dt.timedelta(0), text
    assert text.endswith("+00:00"), text


def test_a_verification_read_back_reports_its_creation_time_in_utc(client, tokens, voters):
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    made = client.post("/api/verifications", json={"cnic": voters.take().cnic}, headers=officer)
    assert made.status_code == 201, made.json
    read = client.get(f"/api/verifications/{made.json['id']}", headers=officer)
    assert read.status_code == 200
    assert_utc_iso(read.json["created_at"])
    assert read.json["created_at"] == made.json["created_at"]


def test_a_registration_read_back_reports_its_creation_time_in_utc(client, tokens):
    regofficer = {"Authorization": f"Bearer {tokens['regofficer']}"}
    made = client.post("/api/registrations", json={"cnic": "83904-0000001-1", "demographics": PERSON},
                       headers=regofficer)
    assert made.status_code == 201, made.json
    read = client.get(f"/api/registrations/{made.json['id']}", headers=regofficer)
    assert read.status_code == 200
    assert_utc_iso(read.json["created_at"])
    assert read.json["created_at"] == made.json["created_at"]
    cancelled = client.post(f"/api/registrations/{made.json['id']}/cancel", headers=regofficer)
    assert cancelled.status_code == 200
    assert cancelled.json["created_at"] == made.json["created_at"]
