"""Cards on the station side: verification from a card (simulated reader and the real PC/SC stack), refused cards
with their own messages and log entries, and the `station card` commands."""
import json
import os
import subprocess
import sys
import time

import pytest
from tests.support.pcsc import insert, pcscd, slots  # noqa: F401  (fixtures)
from sqlalchemy import select

from tests.support.stations import build_station
from station.db.models import MatchLogEntry


def auth(tokens, user):
    return {"Authorization": f"Bearer {tokens[user]}"}


def test_verification_starts_from_a_simulated_card(client, tokens, voters):
    voter = voters.take()
    o = auth(tokens, "officer")
    assert client.post("/api/sim/card", json={"cnic": voter.cnic}, headers=o).status_code == 200
    r = client.post("/api/verifications", json={"card": True}, headers=o)
    assert r.status_code == 201, r.json
    assert r.json["state"] == "IDENTIFIED" and r.json["cnic"] == voter.cnic
    client.post("/api/sim/card", json={"remove": True}, headers=o)


@pytest.mark.parametrize("tamper, words", [
    ("bad-signature", "signature"),
    ("altered-file", "DG1"),
    ("clone", "active authentication"),
])
def test_tampered_cards_are_refused_and_logged(client, tokens, voters, station, tamper, words):
    voter = voters.take()
    o = auth(tokens, "officer")
    client.post("/api/sim/card", json={"cnic": voter.cnic, "tamper": tamper}, headers=o)
    r = client.post("/api/verifications", json={"card": True}, headers=o)
    assert r.status_code == 422 and words in r.json["detail"], r.json
    with station.transaction() as s:
        last = s.scalars(select(MatchLogEntry).order_by(MatchLogEntry.seq.desc()).limit(1)).one()
        assert last.event == "card_rejected" and words in last.details
    client.post("/api/sim/card", json={"remove": True}, headers=o)


def test_no_card_and_card_faults_are_device_messages(client, tokens):
    o = auth(tokens, "officer")
    client.post("/api/sim/card", json={"remove": True}, headers=o)
    r = client.post("/api/verifications", json={"card": True}, headers=o)
    assert r.status_code == 503 and r.json["detail"]
    assert client.post("/api/sim/card", json={"cnic": "12345-1234567-1"}, headers=o).status_code == 404


def _cli(home, database_url, *args, **kw):
    env = {**os.environ, "STATION_HOME": str(home), "STATION_DATABASE__URL": database_url, "STATION_PROFILE": "test"}
    return subprocess.run([sys.executable, "-m", "station", *args], env=env, capture_output=True, text=True,
                          timeout=120, **kw)


@pytest.mark.slow
def test_card_commands_and_a_verification_through_pcscd(pcscd, slots, station, station_home, voters, officer):  # noqa: F811
    """`station card issue` -> `station card emulate` (vpcd) -> `station card read --json`, then the verification
    flow reading the same card through pcscd with PcscCardReader."""
    voter = voters.take()
    url = station.config.database_url
    card = station_home / f"{voter.cnic}.card"
    issued = _cli(station_home, url, "card", "issue", "--cnic", voter.cnic, "--out", str(card))
    assert issued.returncode == 0, issued.stderr
    emulator = subprocess.Popen([sys.executable, "-m", "station", "card", "emulate", "--card", str(card)],
                                env={**os.environ, "STATION_HOME": str(station_home)}, stderr=subprocess.PIPE, text=True)
    try:
        read = _cli(station_home, url, "card", "read", "--json", "--timeout", "10")
        assert read.returncode == 0, read.stderr
        report = json.loads(read.stdout)
        assert (report["cnic"], report["passive_auth"], report["active_auth"]) == (voter.cnic, "ok", "ok")
        assert report["name_ur"] == voter.name_ur and report["fingerprints"] == sorted(voter.fingers)

        pcsc_station = build_station(station_home, url, devices={"card": "pcsc"})
        try:
            view = pcsc_station.polling.start_verification_from_card(officer)
            assert view.state == "IDENTIFIED" and view.cnic == voter.cnic
            pcsc_station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
            view = pcsc_station.polling.capture_fingerprint(officer, view.id)
            assert view.state == "VERIFIED"
            assert pcsc_station.polling.issue_ballot(officer, view.id).state == "BALLOT_ISSUED"
        finally:
            pcsc_station.close()
    finally:
        emulator.terminate()
        emulator.wait(10)
        emulator.stderr.close()
    time.sleep(1.1)  # pcscd needs a poll between two cards in one slot (see pcsc_support)
    bad = station_home / "bad.card"
    assert _cli(station_home, url, "card", "issue", "--cnic", voter.cnic, "--out", str(bad),
                "--tamper", "bad-signature").returncode == 0
    emulator = subprocess.Popen([sys.executable, "-m", "station", "card", "emulate", "--card", str(bad)],
                                env={**os.environ, "STATION_HOME": str(station_home)}, stderr=subprocess.DEVNULL)
    try:
        read = _cli(station_home, url, "card", "read", "--json", "--timeout", "10")
        assert read.returncode == 1
        assert "signature" in read.stderr and "Traceback" not in read.stderr
        assert json.loads(read.stdout)["passive_auth"] != "ok"
    finally:
        emulator.terminate()
        emulator.wait(10)
