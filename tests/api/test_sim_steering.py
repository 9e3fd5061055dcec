"""Steering the simulated devices through /api/sim/*: a device fault is a 503 that changes nothing, and the
simulator never issues a card its own reader would refuse."""
import pytest
from sqlalchemy import func, select

from station.db.models import MatchLogEntry
from tests.support.stations import PASSWORDS, ROLL_SEED, add_users, build_station


def auth(tokens, user):
    return {"Authorization": f"Bearer {tokens[user]}"}


def _log_size(station) -> int:
    with station.transaction() as s:
        return s.scalar(select(func.count()).select_from(MatchLogEntry))


@pytest.mark.parametrize("fault, words", [("disconnect", "disconnected"), ("timeout", "timed out")])
def test_a_power_fault_is_a_503_and_the_simulated_battery_is_left_as_it_was(client, tokens, station, fault, words):
    tech = auth(tokens, "tech")
    before = client.post("/api/sim/power", json={}, headers=tech)
    assert before.status_code == 200, before.json
    logged = _log_size(station)
    r = client.post("/api/sim/fault", json={"kind": "power", "fault": fault, "count": 2}, headers=tech)
    assert r.status_code == 200 and r.json["pending_faults"] == [fault, fault]
    try:
        for _ in range(2):
            r = client.post("/api/sim/power", json={"on_battery": True, "percentage": 10}, headers=tech)
            assert r.status_code == 503, (r.status_code, r.get_data(as_text=True)[:300])
            assert r.mimetype == "application/problem+json" and words in r.json["detail"]
        after = client.post("/api/sim/power", json={}, headers=tech)
        assert after.status_code == 200 and after.json["power"] == before.json["power"]  # nothing applied
        status = client.get("/api/power", headers=auth(tokens, "officer")).json
        assert not status["low"] and status["reading"] == before.json["power"]
        assert _log_size(station) == logged  # no power event, no checkpoint's entry
    finally:
        client.post("/api/sim/fault", json={"kind": "power", "fault": "none"}, headers=tech)
        power = before.json["power"]
        client.post("/api/sim/power", json={"on_battery": power["on_battery"], "percentage": power["percentage"]},
                    headers=tech)


# -- a voter registered without an Urdu name: no card can carry them -------------------------------------------------

FINGERS = ["right_thumb", "left_index"]
CNICS = iter(f"85{i:03d}-{i:07d}-5" for i in range(100, 1000))  # odd last digit: male


@pytest.fixture(scope="module")
def reg_station(tmp_path_factory, make_database_url):
    st = build_station(tmp_path_factory.mktemp("sim-cards"), make_database_url(),
                       enrollment={"fingers": FINGERS, "face_required": False})
    st.init()
    st.synthesize_roll(8, ROLL_SEED)
    add_users(st, PASSWORDS)
    yield st
    st.close()


@pytest.fixture(scope="module")
def reg_client(reg_station):
    from api import create_app

    return create_app(reg_station).test_client()


def bearer(client, user: str) -> dict:
    token = client.post("/api/auth/login", json={"username": user, "password": PASSWORDS[user][1]}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def register_through_the_api(client, headers, person: str, **demographics) -> str:
    cnic = next(CNICS)
    data = {"name_en": "Imran Khalid", "relation": "father", "relative_name_en": "Khalid Mehmood", "gender": "male",
            "date_of_birth": "1984-03-21", "address_en": "Chattar Klass, Muzaffarabad", **demographics}
    r = client.post("/api/registrations", json={"cnic": cnic, "demographics": data}, headers=headers)
    assert r.status_code == 201 and r.json["cnic"] == cnic, r.json
    sid = r.json["id"]
    for finger in FINGERS:
        assert client.post("/api/sim/fingerprint", json={"person": person, "finger": finger},
                           headers=headers).status_code == 200
        r = client.post(f"/api/registrations/{sid}/fingerprint", json={"finger": finger}, headers=headers)
        assert r.status_code == 200, r.json
    r = client.post(f"/api/registrations/{sid}/submit", json={}, headers=headers)
    assert r.status_code == 200, r.json
    return cnic


@pytest.mark.slow  # a registration through the API, with its captures
@pytest.mark.parametrize("missing", ["name_ur", "relative_name_ur"])
def test_no_card_is_issued_for_a_voter_whose_roll_entry_lacks_a_field_every_card_carries(
        reg_station, reg_client, missing):
    client = reg_client
    registrar, officer = bearer(client, "regofficer"), bearer(client, "officer")
    urdu = {"name_ur": "عمران خالد", "relative_name_ur": "خالد محمود"}
    del urdu[missing]
    cnic = register_through_the_api(client, registrar, f"no-{missing}", **urdu)
    entry = client.get(f"/api/voters/{cnic}", headers=officer)
    assert entry.status_code == 200 and entry.json[missing] == "", entry.json
    client.post("/api/sim/card", json={"remove": True}, headers=officer)
    logged = _log_size(reg_station)

    r = client.post("/api/sim/card", json={"cnic": cnic}, headers=officer)
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/problem+json"
    assert "Urdu" in r.json["detail"] and missing in r.json["detail"] and cnic in r.json["detail"]
    r = client.post("/api/verifications", json={"card": True}, headers=officer)
    assert r.status_code == 503, r.json  # no card went into the reader
    assert _log_size(reg_station) == logged  # and nothing was refused (no card_rejected entry)


@pytest.mark.slow  # a registration through the API, with its captures
def test_a_voter_registered_with_both_urdu_names_gets_a_card_the_reader_accepts(reg_station, reg_client):
    client = reg_client
    registrar, officer = bearer(client, "regofficer"), bearer(client, "officer")
    cnic = register_through_the_api(client, registrar, "with-urdu", name_ur="عمران خالد",
                                    relative_name_ur="خالد محمود")
    assert client.post("/api/sim/card", json={"cnic": cnic}, headers=officer).status_code == 200
    r = client.post("/api/verifications", json={"card": True}, headers=officer)
    assert r.status_code == 201 and r.json["cnic"] == cnic, r.json
    client.post("/api/sim/card", json={"remove": True}, headers=officer)
