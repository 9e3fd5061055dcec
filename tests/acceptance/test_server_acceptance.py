"""The issue's acceptance run against a real `station serve` (cheroot) process over HTTP, and a kill -9 in the
middle of a scripted run."""
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from tests.support.stations import PASSWORDS, ROLL_SEED, ServerProcess, build_station
from tests.support.webclient import Client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(station, station_home):
    srv = ServerProcess(station_home, station.config.database_url)
    yield srv
    srv.stop()


def officer_client(server) -> Client:
    client = Client(server.base)
    client.login("officer", PASSWORDS["officer"][1])
    return client


def test_scripted_polling_day(server, voters):
    c = officer_client(server)
    genuine = [voters.take() for _ in range(20)]
    for voter in genuine:
        assert c.post("/api/sim/fingerprint", {"cnic": voter.cnic, "finger": voter.fingers[0]})[0] == 200
        status, body = c.post("/api/verifications", {"cnic": voter.cnic})
        assert status == 201 and body["state"] == "IDENTIFIED", body
        while body["state"] == "IDENTIFIED" and body["next_step"] == "fingerprint":
            status, body = c.post(f"/api/verifications/{body['id']}/fingerprint", {})
            assert status == 200, body
        assert body["state"] == "VERIFIED", body
        status, body = c.post(f"/api/verifications/{body['id']}/ballot")
        assert status == 200 and body["state"] == "BALLOT_ISSUED"

    # a second ballot for the same voter is refused
    status, body = c.post(f"/api/verifications/{body['id']}/ballot")
    assert status == 409
    status, again = c.post("/api/verifications", {"cnic": genuine[0].cnic})
    assert again["state"] == "ALREADY_VOTED"
    assert c.post(f"/api/verifications/{again['id']}/ballot")[0] == 409

    # an impostor presenting another voter's finger
    victim = voters.take()
    for finger in victim.fingers:
        c.post("/api/sim/fingerprint", {"cnic": genuine[1].cnic, "finger": finger})
    status, body = c.post("/api/verifications", {"cnic": victim.cnic})
    while body["next_step"] == "fingerprint":
        status, body = c.post(f"/api/verifications/{body['id']}/fingerprint", {})
        assert status == 200
    assert body["state"] == "NOT_VERIFIED"

    # a valid CNIC not on the roll, and bad input
    assert c.post("/api/verifications", {"cnic": "12345-1234567-1"})[1]["state"] == "NOT_ON_ROLL"
    for raw, expected in ((json.dumps({"cnic": "12345-123"}).encode(), 400), (b"", 400), (b"x" * 10_000_000, 413)):
        status, body = c.post("/api/verifications", raw=raw)
        assert status == expected and body.get("detail"), body


def test_a_chunked_body_over_the_limit_is_a_413(server, station):
    """Sent with Transfer-Encoding: chunked (no Content-Length), a body over server.max_body_bytes was cut at the
    limit by the server's stream and answered 400 "not valid JSON"; with a length it was already 413."""
    c = officer_client(server)
    limit = station.config.server.max_body_bytes
    body = json.dumps({"cnic": "x" * limit}).encode()
    chunks = iter([body[i:i + 65536] for i in range(0, len(body), 65536)])  # urllib sends an iterable chunked
    status, answer = c.post("/api/verifications", raw=chunks)
    assert status == 413 and f"limited to {limit} bytes" in answer["detail"], (status, answer)
    status, answer = c.post("/api/verifications", raw=iter([json.dumps({"cnic": "12345-123"}).encode()]))
    assert status == 400 and "invalid CNIC" in answer["detail"], (status, answer)  # under the limit: read whole


def test_kill_9_loses_no_committed_event(station, make_database_url, tmp_path):
    """Run verifications against a server, kill -9 it mid-run, then check that every acknowledged decision is in
    the database and that `station doctor` passes."""
    home = tmp_path / "home"
    url = make_database_url()
    victim = build_station(home, url)
    victim.init()
    victim.synthesize_roll(16, ROLL_SEED)
    victim.accounts.add_user("officer", PASSWORDS["officer"][1], "polling_officer")
    here = victim.roll.list_voters(polling_station=victim.config.station.polling_station)
    victim.close()

    srv = ServerProcess(home, url)
    c = officer_client(srv)
    acknowledged: list[str] = []
    stop = threading.Event()

    def run():
        try:
            for voter in here:
                if stop.is_set():
                    return
                c.post("/api/sim/fingerprint", {"cnic": voter.cnic, "finger": voter.fingers[0]})
                _, body = c.post("/api/verifications", {"cnic": voter.cnic})
                while body.get("next_step") == "fingerprint":
                    _, body = c.post(f"/api/verifications/{body['id']}/fingerprint", {})
                status, body = c.post(f"/api/verifications/{body['id']}/ballot")
                if status == 200:
                    acknowledged.append(voter.cnic)
        except OSError:
            return  # the server died under us: expected

    worker = threading.Thread(target=run)
    worker.start()
    while len(acknowledged) < 3 and worker.is_alive():
        worker.join(0.05)
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    stop.set()
    worker.join(60)
    srv.proc.stdout.close()
    assert len(acknowledged) >= 3

    env = {**os.environ, "STATION_HOME": str(home), "STATION_DATABASE__URL": url, "STATION_PROFILE": "test"}
    doctor = subprocess.run([sys.executable, "-m", "station", "doctor"], env=env, capture_output=True, text=True)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr

    after = build_station(home, url)
    voted = {v.cnic for v in after.roll.list_voters() if v.voted}
    assert set(acknowledged) <= voted
    from sqlalchemy import select

    from station.db.models import MatchLogEntry
    with after.transaction() as s:
        logged = set(s.scalars(select(MatchLogEntry.voter_ref).where(MatchLogEntry.event == "ballot_issued")))
    assert {after.flow.log.voter_ref(c) for c in voted} == logged  # no ballot without its entry, nor the reverse
    assert after.audit.verify_live_log() == []
    after.close()
