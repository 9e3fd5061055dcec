"""A station whose keys are sealed under a passphrase (`station keys protect`): it starts locked, refuses over the API
with 409 and at the command line with one line everything that signs or decrypts, and works once the presiding
officer unlocks it; `station doctor` and the server's start-up line say how the keys are kept, plainly so when they
are not protected; the server refuses keys kept otherwise than keys.protection requires."""
from __future__ import annotations

import json
import tomllib

import pytest
from click.testing import CliRunner

from api import create_app
from station.cli.main import main, run_server
from station.errors import StationError
from station.security.keystore import KeysLocked
from tests.support.keystore import fresh_process
from tests.support.stations import build_station

PASSPHRASE = "poll opens at eight"
NOT_ON_ROLL = "99999-9999999-9"


@pytest.fixture(autouse=True)
def new_process(monkeypatch):
    return fresh_process(monkeypatch)


@pytest.fixture
def run(tmp_path, make_database_url):
    home = tmp_path / "home"
    url = make_database_url()  # SQLite, or a fresh PostgreSQL database in that pass

    def invoke(*args, input=None, env=None):
        return CliRunner().invoke(main, ["--profile", "test", "--home", str(home), *args], input=input,
                                  env={"STATION_HOME": None, "STATION_PROFILE": None, "STATION_KEYS_PASSPHRASE": None,
                                       "STATION_DATABASE__URL": url, **(env or {})})

    invoke.home, invoke.url = home, url
    return invoke


@pytest.fixture
def sealed(run, tmp_path, new_process):
    """An initialised station with a presiding officer and a polling officer, its keys sealed by the command line."""
    assert run("init").exit_code == 0
    for name, role in (("presiding", "presiding_officer"), ("officer", "polling_officer")):
        assert run("user", "add", name, "--role", role, input=f"{name}-test-pass\n").exit_code == 0
    (tmp_path / "new-passphrase").write_text(PASSPHRASE + "\n")
    done = run("keys", "protect", "--mode", "passphrase", "--passphrase-file", str(tmp_path / "new-passphrase"))
    assert done.exit_code == 0, done.output
    new_process()  # the commands above ran in this process: start the station afresh
    return run


def station_of(run):
    return build_station(run.home, run.url)


def test_protect_converts_the_keys_and_sets_the_configuration(sealed):
    home = sealed.home
    settings = tomllib.loads((home / "station.toml").read_text())
    assert settings["keys"]["protection"] == "passphrase"
    status = sealed("keys", "status", "--json")
    assert status.exit_code == 0, status.output
    doc = json.loads(status.output)
    assert doc["protection"] == doc["required"] == "passphrase" and doc["ok"]
    assert doc["files"]["template.key"] == doc["files"]["station-signing.key"] == "sealed"
    assert doc["files"]["commission-signing.key"] == "missing"  # a station holds no commission key
    assert b"PRIVATE KEY" not in (home / "keys" / "station-signing.key").read_bytes()


def test_a_locked_station_refuses_to_sign_over_the_api_until_the_presiding_officer_unlocks_it(sealed):
    station = station_of(sealed)
    try:
        client = create_app(station).test_client()

        def login(name):
            r = client.post("/api/auth/login", json={"username": name, "password": f"{name}-test-pass"})
            assert r.status_code == 200, r.get_data(as_text=True)  # logging in needs no key
            return {"Authorization": f"Bearer {r.json['token']}"}

        officer, presiding = login("officer"), login("presiding")
        assert client.get("/api/keys", headers=officer).json == {"protection": "passphrase",
                                                                 "required": "passphrase", "locked": True}
        refused = client.post("/api/verifications", json={"cnic": NOT_ON_ROLL}, headers=officer)
        assert refused.status_code == 409 and "locked" in refused.json["detail"]
        with pytest.raises(KeysLocked):
            station.log_signer  # nothing can be signed
        assert client.post("/api/keys/unlock", json={"passphrase": PASSPHRASE}, headers=officer).status_code == 403
        wrong = client.post("/api/keys/unlock", json={"passphrase": "not the passphrase"}, headers=presiding)
        assert wrong.status_code == 400 and "wrong passphrase" in wrong.json["detail"]
        assert client.get("/api/keys", headers=officer).json["locked"] is True

        opened = client.post("/api/keys/unlock", json={"passphrase": PASSPHRASE}, headers=presiding)
        assert opened.status_code == 200 and opened.json["locked"] is False
        started = client.post("/api/verifications", json={"cnic": NOT_ON_ROLL}, headers=officer)
        assert started.status_code == 201 and started.json["state"] == "NOT_ON_ROLL"
        assert station.audit.verify_live_log() == []  # the entry is signed with the opened key
    finally:
        station.close()


def test_the_ui_unlock_screen(sealed):
    station = station_of(sealed)
    try:
        client = create_app(station).test_client()
        page = client.get("/").get_data(as_text=True)
        csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"username": "presiding", "password": "presiding-test-pass", "csrf_token": csrf})
        screen = client.get("/keys").get_data(as_text=True)
        assert 'id="passphrase"' in screen and "LOCKED" in screen
        csrf = screen.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/keys", data={"passphrase": "not it at all", "csrf_token": csrf})
        assert "wrong passphrase" in client.get("/keys").get_data(as_text=True)
        client.post("/keys", data={"passphrase": PASSPHRASE, "csrf_token": csrf})
        assert not station.keys.store.locked
        assert 'id="passphrase"' not in client.get("/keys").get_data(as_text=True)
    finally:
        station.close()


def test_every_screen_of_a_locked_station_says_so_and_look_up_names_the_reason(sealed):
    """Locked, the presiding officer's home (Next voter) said nothing, so the unlock could be skipped; a look-up of a
    valid CNIC answered CHECK THE CNIC; the Day summary was a raw JSON 409. Now every screen carries the notice (with
    the way to Station keys for who may unlock), a look-up says the keys are locked, the summary is a page."""
    station = station_of(sealed)
    try:
        app = create_app(station)
        for user, unlocks in (("presiding", True), ("officer", False)):
            client = app.test_client()
            page = client.get("/").get_data(as_text=True)
            csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
            r = client.post("/login", data={"username": user, "password": f"{user}-test-pass", "csrf_token": csrf})
            home = client.get(client.get(r.headers["Location"]).headers["Location"]).get_data(as_text=True)
            assert 'id="keys-locked"' in home and "STATION KEYS LOCKED" in home, user
            assert ('href="/keys"' in home) == unlocks, user
            csrf = home.split('name="csrf_token" value="')[1].split('"')[0]
            looked_up = client.post("/next", data={"cnic": "12345-1234567-1", "source": "typed", "csrf_token": csrf})
            answer = looked_up.get_data(as_text=True)
            assert looked_up.status_code == 409 and "CHECK THE CNIC" not in answer, user
            assert answer.count("STATION KEYS LOCKED") >= 1 and 'id="problem"' in answer, user
            summary = client.get("/summary")
            assert summary.status_code == 409 and summary.mimetype == "text/html", user
            assert 'id="keys-locked"' in summary.get_data(as_text=True), user
    finally:
        station.close()


def test_a_command_on_a_locked_station_asks_and_says_so_in_one_line(sealed, tmp_path):
    out = tmp_path / "station.csr"
    locked = sealed("identity", "request", "--out", str(out))
    assert locked.exit_code == 3 and not out.exists()
    assert locked.output.count("\n") == 1 and locked.output.startswith("error: the station keys are sealed")
    wrong = sealed("identity", "request", "--out", str(out), env={"STATION_KEYS_PASSPHRASE": "a wrong passphrase"})
    assert wrong.exit_code == 3 and wrong.output == "error: wrong passphrase: it does not unlock the station keys\n"
    binary = sealed("identity", "request", "--out", str(out), env={"STATION_KEYS_PASSPHRASE": "pass\udcffword"})
    assert binary.exit_code == 3 and binary.output == "error: $STATION_KEYS_PASSPHRASE is not UTF-8 text\n"
    right = sealed("identity", "request", "--out", str(out), env={"STATION_KEYS_PASSPHRASE": PASSPHRASE})
    assert right.exit_code == 0, right.output
    assert out.read_bytes().startswith(b"-----BEGIN CERTIFICATE REQUEST-----")


def test_doctor_says_how_the_keys_are_kept(sealed):
    doctor = sealed("doctor")
    assert "ok   key protection: sealed under the key passphrase" in doctor.output, doctor.output
    assert "station key: sealed, locked in this process" in doctor.output
    # no ID-authority link is configured: locked keys are no reason to fail that line (found by a review)
    assert "ok   ID authority link: not configured" in doctor.output, doctor.output


def test_plain_keys_are_said_to_be_unprotected(run):
    assert run("init").exit_code == 0
    doctor = run("doctor")
    assert "key protection: plain files, NOT protected at rest" in doctor.output, doctor.output
    station = station_of(run)
    try:
        assert station.keys.announcement().startswith("keys: plain files, NOT protected at rest")
    finally:
        station.close()


def test_the_server_refuses_keys_kept_otherwise_than_configured(sealed):
    served = sealed("serve", env={"STATION_KEYS__PROTECTION": "plain"})
    assert served.exit_code == 3
    assert served.output.startswith("error: refusing to serve: the keys in ") and "'passphrase'" in served.output
    back = sealed("keys", "protect", "--mode", "plain", env={"STATION_KEYS_PASSPHRASE": PASSPHRASE})
    assert back.exit_code == 0, back.output
    station = build_station(sealed.home, sealed.url, keys={"protection": "passphrase"})
    try:
        with pytest.raises(StationError, match="refusing to serve: the keys .* are kept 'plain'"):
            run_server(station)
    finally:
        station.close()


def test_station_serve_starts_locked_and_opens_on_the_unlock(sealed):
    import urllib.error
    import urllib.request

    from tests.support.stations import ServerProcess

    server = ServerProcess(sealed.home, sealed.url)

    def call(path, body, token=None):
        request = urllib.request.Request(f"{server.base}{path}", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    try:
        token = call("/api/auth/login", {"username": "presiding", "password": "presiding-test-pass"})[1]["token"]
        status, body = call("/api/verifications", {"cnic": NOT_ON_ROLL}, token)
        assert status == 409 and "locked" in body["detail"]
        assert call("/api/keys/unlock", {"passphrase": PASSPHRASE}, token) == (
            200, {"protection": "passphrase", "required": "passphrase", "locked": False})
        assert call("/api/verifications", {"cnic": NOT_ON_ROLL}, token)[0] == 201
    finally:
        server.proc.terminate()
        server.proc.wait(30)
        output = server.proc.stdout.read()
        server.stop()
    lines = output.splitlines()
    assert "serving on http://127.0.0.1:" in lines[0] and "LOCKED" in lines[1], output
