"""Registration: capture gates and retries (best capture kept), exceptions with a photo, the 1:N duplicate search
(positions ignored), the adjudication queue and its rules, pending voters, and the API with its roles."""
from __future__ import annotations

import base64
import dataclasses

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from station.registration import flow as enrollment
from station.errors import Conflict, InvalidCnic, InvalidInput, NotPermitted
from station.security.keys import template_context
from station.db.models import BiometricReference, MatchLogEntry, Voter
from station.db.models import EnrollmentCapture, EnrollmentSession
from station.security.users import Principal

from tests.support.stations import ROLL_SEED, build_station

pytestmark = pytest.mark.slow

OFFICER = Principal("reg-officer", "registration_officer")
OFFICER2 = Principal("reg-officer-2", "registration_officer")
REGISTRAR = Principal("registrar", "registrar")
PEOPLE = iter(f"t{i:03d}" for i in range(1000))
CNICS = iter(f"83{i:03d}-{i:07d}-1" for i in range(100, 1000))  # odd last digit: male


def person_data(**overrides) -> dict:
    return {"name_en": "Test Person", "relation": "father", "relative_name_en": "Test Father", "gender": "male",
            "date_of_birth": "1985-04-12", "address_en": "Chattar, Muzaffarabad", **overrides}


def blank_jpeg(seed: int = 1) -> str:
    image = (np.random.default_rng(seed).random((200, 260, 3)) * 255).astype(np.uint8)
    return base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()


@pytest.fixture(scope="module")
def reg_station(tmp_path_factory, make_database_url):
    home = tmp_path_factory.mktemp("registration")
    st = build_station(home, make_database_url(), enrollment={"face_required": False})
    st.init()
    st.synthesize_roll(12, ROLL_SEED)
    st.accounts.add_user("regofficer", "regofficer-test-pass", "registration_officer")
    st.accounts.add_user("registrar", "registrar-test-pass", "registrar")
    st.accounts.add_user("officer", "officer-test-pass", "polling_officer")
    yield st
    st.close()


def register(st, person: str, fingers: list[str] | None = None, *, cnic: str | None = None, submit: bool = True):
    """Register a simulated person; ``fingers``: the physical fingers presented for the configured labels."""
    service = st.registration
    labels = service.settings.fingers
    view = service.start(OFFICER, cnic or next(CNICS), person_data())
    for label, physical in zip(labels, fingers or labels):
        st.steering.present_person_finger(OFFICER, person, physical)
        view = service.capture_finger(OFFICER, view.id, label)
        while label in view.missing:
            view = service.capture_finger(OFFICER, view.id, label)
    return service.submit(OFFICER, view.id) if submit else view


def test_start_validates_the_cnic_and_the_demographics(reg_station):
    service = reg_station.registration
    with pytest.raises(InvalidCnic):
        service.start(OFFICER, "12345-123", person_data())
    with pytest.raises(InvalidInput, match="gender female does not match the CNIC"):
        service.start(OFFICER, next(CNICS), person_data(gender="female"))
    with pytest.raises(InvalidInput, match="name_en is required"):
        service.start(OFFICER, next(CNICS), person_data(name_en=" "))
    with pytest.raises(InvalidInput, match="at least 18"):
        service.start(OFFICER, next(CNICS), person_data(date_of_birth="2020-01-01"))
    with pytest.raises(InvalidInput, match="unknown polling station"):
        service.start(OFFICER, next(CNICS), person_data(), polling_station="PS-999")
    # nothing visible, or characters that hide or rewrite what the roll shows: refused with the code point
    with pytest.raises(InvalidInput, match="name_en is required"):
        service.start(OFFICER, next(CNICS), person_data(name_en="\u200b \ufeff"))
    for field, value, code in (("address_en", "\x1b[31mRED\x1b[0m", "U+001B"), ("name_en", "Ali\u00adKhan", "U+00AD"),
                               ("relative_name_en", "Khalid\x07", "U+0007"), ("name_en", "Ali\nKhan", "U+000A")):
        with pytest.raises(InvalidInput, match=f"{field} must not contain .*{code[2:]}"):
            service.start(OFFICER, next(CNICS), person_data(**{field: value}))
    # Urdu typing needs the zero-width non-joiner and joiner: kept
    assert service.start(OFFICER, next(CNICS), person_data(name_ur="عمران\u200cخالد\u200d")).state == "CAPTURING"
    typed_in_urdu = service.start(OFFICER, next(CNICS), person_data(census_block="۲۲۳۱", family_number="٤٥"))
    assert (typed_in_urdu.demographics["census_block"], typed_in_urdu.demographics["family_number"]) == ("2231", "45")
    for field in ("census_block", "family_number"):  # the roll keeps 16 characters: refused now, not at submit
        with pytest.raises(InvalidInput, match=f"{field} is too long \\(at most 16 characters\\)"):
            service.start(OFFICER, next(CNICS), person_data(**{field: "C" * 17}))
    on_roll = reg_station.roll.list_voters(limit=1)[0]
    with pytest.raises(Conflict, match="already registered"):
        service.start(OFFICER, on_roll.cnic, person_data(gender=on_roll.gender))
    cnic = next(CNICS)
    service.start(OFFICER, cnic, person_data())
    with pytest.raises(Conflict, match="open registration"):
        service.start(OFFICER, cnic, person_data())
    with pytest.raises(NotPermitted):
        service.start(Principal("officer", "polling_officer"), next(CNICS), person_data())


def test_a_capture_below_the_gate_is_retried_and_the_best_one_kept(tmp_path, make_database_url):
    st = build_station(tmp_path, make_database_url(),
                       enrollment={"face_required": False, "fingers": ["right_thumb"], "min_finger_quality": 100})
    st.init()
    st.synthesize_roll(3, ROLL_SEED)
    service = st.registration
    view = service.start(OFFICER, next(CNICS), person_data())
    qualities = []
    for quality in ("smudged", "normal", "dry"):
        st.steering.present_person_finger(OFFICER, "gate", "right_thumb", quality)
        view = service.capture_finger(OFFICER, view.id, "right_thumb")
        capture = view.captures[0]
        qualities.append(capture["quality"])
        assert capture["feedback"], "a capture below the gate tells the operator what to do"
    assert capture["status"] == "below_gate" and capture["attempts_left"] == 0
    with st.transaction() as s:
        logged = [e.quality for e in s.scalars(select(MatchLogEntry).where(
            MatchLogEntry.session_id == view.id, MatchLogEntry.event == "enrollment_capture"))]
    assert len(logged) == 3 and capture["quality"] == max(logged)
    with pytest.raises(Conflict, match="all 3 attempts used"):
        service.capture_finger(OFFICER, view.id, "right_thumb")
    assert service.submit(OFFICER, view.id).state == "ENROLLED"
    st.close()


def test_a_print_with_too_few_features_is_retaken_at_registration(reg_station, monkeypatch):
    service = reg_station.registration
    label = service.settings.fingers[0]
    view = service.start(OFFICER, next(CNICS), person_data())
    reg_station.steering.present_person_finger(OFFICER, "small-print", label)
    monkeypatch.setattr(service, "settings", dataclasses.replace(service.settings, min_features=10_000))
    capture = service.capture_finger(OFFICER, view.id, label).captures[0]
    assert capture["status"] == "retry" and "at least 10000 needed" in capture["feedback"]
    monkeypatch.undo()  # the configured gate (the engine's, from config) passes the same finger
    assert service.settings.min_features == reg_station.config.fingerprint.engine.min_features > 0
    capture = service.capture_finger(OFFICER, view.id, label).captures[0]
    assert capture["status"] == "accepted" and not capture["feedback"]
    service.cancel(OFFICER, view.id)


def test_an_exception_needs_a_known_reason_and_keeps_an_encrypted_photo(reg_station):
    service = reg_station.registration
    view = service.start(OFFICER, next(CNICS), person_data())
    with pytest.raises(InvalidInput, match="unknown exception reason"):
        service.record_exception(OFFICER, view.id, "left_index", "lazy")
    reg_station.steering.present_face(OFFICER, image_base64=blank_jpeg())
    view = service.record_exception(OFFICER, view.id, "left_index", "amputated")
    row = next(c for c in view.captures if c["position"] == "left_index")
    assert row["status"] == "exception" and row["has_exception_photo"] and "left_index" not in view.missing
    with reg_station.transaction() as s:
        stored = s.scalar(select(EnrollmentCapture).where(EnrollmentCapture.session_id == view.id)).exception_photo
    assert not bytes(stored).startswith(b"\xff\xd8"), "the photo is encrypted at rest"
    photo = service.exception_photo(REGISTRAR, view.id, "left_index")
    assert photo.startswith(b"\xff\xd8") and cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR) is not None
    with pytest.raises(NotPermitted):
        service.exception_photo(OFFICER, view.id, "left_index")
    with pytest.raises(Conflict, match="capture or record an exception first for: right_thumb"):
        service.submit(OFFICER, view.id)


def test_a_new_person_joins_the_roll_as_pending_and_cannot_vote_yet(reg_station):
    view = register(reg_station, next(PEOPLE))
    assert view.state == "ENROLLED" and view.candidates == []
    with reg_station.transaction() as s:
        voter = s.scalar(select(Voter).where(Voter.cnic == view.cnic))
        refs = list(s.scalars(select(BiometricReference).where(BiometricReference.voter_id == voter.id)))
        assert voter.status == "pending"
        assert sorted(r.position for r in refs) == sorted(reg_station.registration.settings.fingers)
        for r in refs:  # re-encrypted under the roll's context, like any reference
            reg_station.cipher.decrypt(bytes(r.ciphertext), template_context(voter.cnic, r.modality, r.position))
    polling = reg_station.polling.start_verification(Principal("officer", "polling_officer"), view.cnic)
    assert polling.state == "NOT_ON_ROLL"


def test_the_same_person_under_another_cnic_is_found_whatever_fingers_and_order(reg_station):
    person = next(PEOPLE)
    first = register(reg_station, person)
    assert first.state == "ENROLLED"
    stranger = next(PEOPLE)
    # one enrolled finger (left index) presented as the right thumb; the other labels get a stranger's fingers
    service = reg_station.registration
    view = service.start(OFFICER, next(CNICS), person_data())
    labels = service.settings.fingers
    presented = [(person, "left_index")] + [(stranger, f) for f in ("right_middle", "left_middle", "right_ring")]
    for label, (who, finger) in zip(labels, presented):
        reg_station.steering.present_person_finger(OFFICER, who, finger)
        view = service.capture_finger(OFFICER, view.id, label)
        while label in view.missing:
            view = service.capture_finger(OFFICER, view.id, label)
    second = service.submit(OFFICER, view.id)
    assert second.state == "ADJUDICATION" and second.candidates_found == 1
    queued = next(v for v in service.queue(REGISTRAR) if v.id == second.id)
    assert [c["cnic"] for c in queued.candidates] == [first.cnic]
    evidence = queued.candidates[0]["evidence"]
    assert {(e["probe"], e["roll"]) for e in evidence} == {(labels[0], "left_index")}


def test_the_registration_officer_learns_how_many_candidates_not_who_they_are(reg_station):
    """Who the possible duplicates are (CNIC, names, date of birth, station, scores) and the registrar's note are the
    registrar's: the officer's answers (submit, get, cancel) give the state and the number of candidates only, as the
    officer's screen does."""
    service = reg_station.registration
    person = next(PEOPLE)
    first = register(reg_station, person)
    twice = register(reg_station, person)  # submitted by the officer
    for view in (twice, service.get(OFFICER, twice.id), service.get(OFFICER2, twice.id)):
        assert view.state == "ADJUDICATION" and view.candidates_found == 1
        assert view.candidates == [] and first.cnic not in repr(view.to_dict())
    assert [c["cnic"] for c in service.get(REGISTRAR, twice.id).candidates] == [first.cnic]
    service.decide(REGISTRAR, twice.id, "duplicate", f"the same person as {first.cnic}")
    decided = service.get(OFFICER, twice.id)
    assert decided.state == "DUPLICATE" and decided.decision == "duplicate" and decided.decision_note is None
    assert first.cnic not in repr(decided.to_dict())
    assert service.get(REGISTRAR, twice.id).decision_note == f"the same person as {first.cnic}"


def test_adjudication_rules_and_outcomes(reg_station):
    service = reg_station.registration
    person = next(PEOPLE)
    first = register(reg_station, person)
    twice = register(reg_station, person)
    assert twice.state == "ADJUDICATION" and service.get(REGISTRAR, twice.id).candidates[0]["cnic"] == first.cnic
    with pytest.raises(NotPermitted):
        service.decide(OFFICER, twice.id, "duplicate", "same prints")
    with pytest.raises(InvalidInput, match="note"):
        service.decide(REGISTRAR, twice.id, "duplicate", "  ")
    with pytest.raises(InvalidInput, match="decision must be"):
        service.decide(REGISTRAR, twice.id, "maybe", "unsure")
    with pytest.raises(Conflict, match="must not be the officer"):
        service.decide(Principal(OFFICER.username, "registrar"), twice.id, "duplicate", "same prints")
    done = service.decide(REGISTRAR, twice.id, "duplicate", "same four prints as the earlier registration")
    assert done.state == "DUPLICATE" and done.decided_by == "registrar"
    with reg_station.transaction() as s:
        assert s.scalar(select(Voter).where(Voter.cnic == twice.cnic)) is None, "a duplicate is not added"
    with pytest.raises(Conflict):
        service.decide(REGISTRAR, twice.id, "not_duplicate", "changed my mind")
    third = register(reg_station, person)  # say the registrar finds twins with similar prints
    cleared = service.decide(REGISTRAR, third.id, "not_duplicate", "twin brother, checked documents")
    assert cleared.state == "ENROLLED"
    with reg_station.transaction() as s:
        assert s.scalar(select(Voter.status).where(Voter.cnic == third.cnic)) == "pending"
    records = {r["id"]: r for r in reg_station_records(reg_station)}
    assert records[twice.id]["decision"] == "duplicate" and records[twice.id]["duplicate_of"] == [first.cnic]
    assert reg_station.audit.verify_live_log() == [], "every registration event is in the signed chain"


def reg_station_records(st) -> list[dict]:
    with st.transaction() as s:
        return enrollment.enrollment_records(s)


def test_cancel_discards_the_captures(reg_station):
    view = register(reg_station, next(PEOPLE), submit=False)
    cancelled = reg_station.registration.cancel(OFFICER2, view.id)
    assert cancelled.state == "CANCELLED"
    with reg_station.transaction() as s:
        rows = list(s.scalars(select(EnrollmentCapture).where(EnrollmentCapture.session_id == view.id)))
    assert rows and all(r.ciphertext is None for r in rows)


# --- API ---

@pytest.fixture(scope="module")
def reg_client(reg_station):
    from api import create_app

    client = create_app(reg_station).test_client()
    tokens = {u: client.post("/api/auth/login", json={"username": u, "password": f"{u}-test-pass"}).json["token"]
              for u in ("regofficer", "registrar", "officer")}
    return client, {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}


def test_api_registration_to_adjudication(reg_client):
    client, auth = reg_client
    person = next(PEOPLE)
    ids = []
    for _ in range(2):
        r = client.post("/api/registrations", json={"cnic": next(CNICS), "demographics": person_data()},
                        headers=auth["regofficer"])
        assert r.status_code == 201, r.json
        reg = r.json
        while reg["next_step"] == "capture":
            finger = reg["next_position"]
            assert client.post("/api/sim/fingerprint", json={"person": person, "finger": finger},
                               headers=auth["regofficer"]).status_code == 200
            reg = client.post(f"/api/registrations/{reg['id']}/fingerprint", json={"finger": finger},
                              headers=auth["regofficer"]).json
        assert reg["next_step"] == "submit"
        reg = client.post(f"/api/registrations/{reg['id']}/submit", headers=auth["regofficer"]).json
        ids.append(reg["id"])
    assert reg["state"] == "ADJUDICATION"
    queue = client.get("/api/adjudications", headers=auth["registrar"])
    assert queue.status_code == 200 and ids[1] in [q["id"] for q in queue.json]
    assert client.get("/api/adjudications", headers=auth["regofficer"]).status_code == 403
    assert client.post("/api/registrations", json={"cnic": next(CNICS), "demographics": person_data()},
                       headers=auth["officer"]).status_code == 403
    r = client.post(f"/api/adjudications/{ids[1]}", json={"decision": "duplicate"}, headers=auth["registrar"])
    assert r.status_code == 400 and "note is required" in r.json["detail"]
    r = client.post(f"/api/adjudications/{ids[1]}", json={"decision": "duplicate", "note": "same prints"},
                    headers=auth["registrar"])
    assert r.status_code == 200 and r.json["state"] == "DUPLICATE"


@pytest.mark.parametrize("payload, detail", [
    ({"cnic": "123", "demographics": {}}, "invalid CNIC"),
    ({"cnic": "83999-1234567-1", "demographics": {"name_en": 5}}, "name_en must be a string"),
    ({"cnic": "83999-1234567-1", "demographics": {"nickname": "x"}}, "nickname"),
    ({"cnic": "83999-1234567-1"}, "demographics must be an object"),
])
def test_api_bad_registration_input_is_a_400_naming_the_problem(reg_client, payload, detail):
    client, auth = reg_client
    r = client.post("/api/registrations", json=payload, headers=auth["regofficer"])
    assert r.status_code == 400 and detail in r.json["detail"]
    assert client.get("/api/registrations/nope", headers=auth["regofficer"]).status_code == 404


@pytest.mark.parametrize("typed", ["19800101", "1980-W01-1", "1980W011", "1980-1-1", "1980-01-01T00:00",
                                   "\u0661\u0669\u0668\u0660-\u0660\u0661-\u0660\u0661"])
def test_api_a_date_of_birth_not_written_yyyy_mm_dd_is_a_400_and_starts_nothing(reg_client, reg_station, typed):
    """date.fromisoformat (Python 3.11) also reads 19800101 and ISO week dates (1980-W01-1 is 1979-12-31): the
    registration stored the text as typed while the roll got the parsed date. Only YYYY-MM-DD is a date of birth."""
    client, auth = reg_client
    cnic = next(CNICS)
    r = client.post("/api/registrations", json={"cnic": cnic, "demographics": person_data(date_of_birth=typed)},
                    headers=auth["regofficer"])
    assert r.status_code == 400, (r.status_code, r.json)
    assert r.mimetype == "application/problem+json"
    assert r.json["detail"] == "date_of_birth must be a date as YYYY-MM-DD"
    with reg_station.transaction() as s:
        assert s.scalar(select(EnrollmentSession.id).where(EnrollmentSession.cnic == cnic)) is None


def test_api_the_date_of_birth_is_stored_as_the_date_the_roll_gets(reg_client, reg_station):
    client, auth = reg_client
    r = client.post("/api/registrations", json={"cnic": next(CNICS),
                                                "demographics": person_data(date_of_birth=" 1980-01-01 ")},
                    headers=auth["regofficer"])
    assert r.status_code == 201, r.json
    assert r.json["demographics"]["date_of_birth"] == "1980-01-01"
    assert client.post(f"/api/registrations/{r.json['id']}/cancel", headers=auth["regofficer"]).status_code == 200


def test_api_a_finger_capture_on_an_enrolled_registration_is_a_409(reg_client, reg_station):
    """With no finger named, the capture was for the view's next position: None once the registration is no longer
    capturing, a 400 "unknown finger None". It is the registration's state: a 409 that changes nothing."""
    client, auth = reg_client
    enrolled = register(reg_station, next(PEOPLE))
    assert enrolled.state == "ENROLLED"
    url = f"/api/registrations/{enrolled.id}"
    before = client.get(url, headers=auth["regofficer"]).json
    with reg_station.transaction() as s:
        entries = s.scalar(select(func.count()).select_from(MatchLogEntry))
    r = client.post(f"{url}/fingerprint", json={}, headers=auth["regofficer"])
    assert r.status_code == 409, (r.status_code, r.json)
    assert r.json["detail"] == "cannot capture: this registration is ENROLLED"
    assert client.get(url, headers=auth["regofficer"]).json == before
    with reg_station.transaction() as s:
        assert s.scalar(select(func.count()).select_from(MatchLogEntry)) == entries


def test_the_duplicate_search_index_is_built_at_start_not_on_the_first_submit(reg_station):
    """`station serve` warms up in the background: the engine's model loads and the 1:N index holds every roll
    fingerprint before anyone submits."""
    reg_station.warm_up().join(timeout=300)
    with reg_station.transaction() as s:
        held = {(cnic, position) for cnic, position in s.execute(
            select(Voter.cnic, BiometricReference.position).join(BiometricReference.voter)
            .where(BiometricReference.modality == "fingerprint"))}
    assert len(held) >= 24 and len(reg_station.registration.index) == len(held)
