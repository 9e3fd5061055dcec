"""The `station` command in-process (click's runner): the contract commands and their error messages."""
import json
import os
import stat

import pytest
from click.testing import CliRunner

from station.cli.main import main
from tests.support.cli import database_env


@pytest.fixture
def run(tmp_path, make_database_url):
    home = tmp_path / "home"
    database = database_env(make_database_url)

    def invoke(*args, input=None):
        result = CliRunner().invoke(main, ["--profile", "test", "--home", str(home), *args], input=input,
                                    env={"STATION_HOME": None, "STATION_PROFILE": None, **database})
        return result

    invoke.home = home
    return invoke


def test_init_creates_a_private_home_and_is_idempotent(run):
    first = run("init")
    assert first.exit_code == 0, first.output
    assert "key created" in first.output
    assert stat.S_IMODE(os.stat(run.home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(run.home / "keys" / "template.key").st_mode) == 0o600
    again = run("init")
    assert again.exit_code == 0 and "already present" in again.output


def test_commands_before_init_say_what_to_do(run):
    result = run("roll", "list", "--json")
    assert result.exit_code == 3  # refused: the station's state does not allow it
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert "station init" in result.output and "Traceback" not in result.output


def test_a_technician_lists_the_devices_before_init(run):
    """Checking the devices needs no station keys: a technician may do it on a machine not yet initialised."""
    listed = run("devices", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert {row["status"] for row in json.loads(listed.stdout)} == {"Ready"}


def test_user_add_reads_the_password_from_stdin(run):
    run("init")
    ok = run("user", "add", "amina", "--role", "presiding_officer", input="long-enough-pass\n")
    assert ok.exit_code == 0, ok.output
    dup = run("user", "add", "amina", "--role", "presiding_officer", input="long-enough-pass\n")
    assert dup.exit_code == 3 and "already exists" in dup.output
    bad = run("user", "add", "bilal", "--role", "king", input="long-enough-pass\n")
    assert bad.exit_code == 3 and "unknown role" in bad.output
    short = run("user", "add", "bilal", "--role", "technician", input="short\n")
    assert short.exit_code == 3 and "at least 8" in short.output


@pytest.mark.slow
def test_synth_list_and_doctor(run):
    run("init")
    synth = run("roll", "synth", "--voters", "6", "--seed", "4", "--workers", "1")
    assert synth.exit_code == 0, synth.output
    assert json.loads(synth.output.splitlines()[0])["voters"] == 6
    again = run("roll", "synth", "--voters", "6", "--seed", "4", "--workers", "1")
    assert again.exit_code == 3 and "already loaded" in again.output
    listed = run("roll", "list", "--json", "--limit", "4")
    rows = json.loads(listed.stdout)  # one JSON document: an array, a voter per line
    assert len(listed.stdout.splitlines()) == 5
    assert len(rows) == 4
    for row in rows:
        assert {"cnic", "gender", "polling_station", "serial_number"} <= set(row)
    doctor = run("doctor")
    assert doctor.exit_code == 0, doctor.output
    (run.home / "keys" / "template.key").unlink()
    broken = run("doctor")
    assert broken.exit_code == 1 and "FAIL station key" in broken.output


def test_bad_configuration_is_one_line(run, monkeypatch):
    result = CliRunner().invoke(main, ["--profile", "nope", "--home", str(run.home), "init"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: unknown profile 'nope'; available: hardware, simulated, test"
    monkeypatch.setenv("STATION_SERVER__PORT", "eighty")
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(run.home), "init"])
    assert result.exit_code == 2 and "server.port" in result.output


def test_devices_list_and_test_on_simulated_devices(run):
    run("init")
    listed = run("devices", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert {r["kind"]: r["status"] for r in rows}.items() >= {"card": "Ready", "fingerprint": "Ready",
                                                             "camera": "Ready"}.items()
    tested = run("devices", "test", "fingerprint", "--captures", "2", "--json")
    report = json.loads(tested.output)
    assert tested.exit_code == 0 and report["failures"] == 0 and report["quality"][0]["minutiae"] > 10
    faulty = run("devices", "test", "camera", "--captures", "2", "--inject", "disconnect", "--json")
    report = json.loads(faulty.output)
    assert report["failures"] == 1 and "disconnected" in report["errors"][0]


def test_devices_list_names_what_is_missing_on_the_hardware_profile(tmp_path):
    home = tmp_path / "hw"
    env = {"STATION_HOME": None, "STATION_PROFILE": None, "STATION_DEVICES__FINGERPRINT_PORT": "4599",
           "STATION_DEVICES__CAMERA_SOURCE": "/nonexistent/camera.mjpg"}
    result = CliRunner().invoke(main, ["--profile", "hardware", "--home", str(home), "devices", "list", "--json"],
                                env=env)
    assert result.exit_code == 0, result.output
    rows = {r["kind"]: r for r in json.loads(result.stdout)}
    assert rows["camera"]["status"] == "Unavailable" and "no camera" in rows["camera"]["error"]
    assert rows["fingerprint"]["status"] == "Unavailable" and rows["fingerprint"]["error"]
    assert rows["card"]["status"] in ("Ready", "Unavailable")
    if rows["card"]["status"] == "Unavailable":
        assert "pcscd" in rows["card"]["error"] or "PC/SC" in rows["card"]["error"]


def test_a_command_on_a_home_never_initialised_creates_nothing(run):
    """A refused command on an empty home leaves it empty: no station.db, so a backup can still be restored there."""
    run.home.mkdir()
    refused = run("roll", "list")
    assert refused.exit_code == 3 and "not initialised" in refused.stderr
    assert list(run.home.iterdir()) == []
    for command in (("backup", "init"), ("identity", "show")):  # each says what it looked for, in one line
        refused = run(*command)
        lines = refused.stderr.strip().splitlines()
        assert refused.exit_code == 3 and len(lines) == 1, refused.output
        assert lines[0].startswith("error: the station is not initialised (no ") and "station init" in lines[0]
    assert list(run.home.iterdir()) == []


def home_state(run) -> tuple:
    """What a refused command must leave as it was: the home's files (the database aside), the roll's status and the
    length of the match log."""
    files = {str(p.relative_to(run.home)): p.read_bytes() for p in sorted(run.home.rglob("*"))
             if p.is_file() and not p.name.startswith("station.db")}
    checks = json.loads(run("doctor", "--json").stdout)["checks"]
    return files, run("roll", "status").stdout, next(c["detail"] for c in checks if c["name"] == "match log")


def refused_output(result, path, problem: str) -> None:
    """Exit 2 (a path that is not there, docs/cli.md) and one line naming the path given, not a temporary file."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr == f"error: cannot write {path}: {problem}\n"


def test_an_output_the_command_cannot_write_changes_nothing(run, tmp_path):
    """roll commission-init --out/--cert-out and roll crl --out into a folder that is not there: refused before the
    keys, the roll revision, the revocation list or a log entry is made."""
    assert run("init").exit_code == 0
    missing = tmp_path / "nodir"
    before = home_state(run)
    for option in ("--out", "--cert-out"):
        refused_output(run("roll", "commission-init", option, str(missing / "c.pub")), missing / "c.pub",
                       f"no such folder {missing}")
        assert home_state(run) == before
    assert run("roll", "commission-init").exit_code == 0
    before = home_state(run)
    refused_output(run("roll", "crl", "--out", str(missing / "c.crl")), missing / "c.crl", f"no such folder {missing}")
    assert home_state(run) == before and not missing.exists()


def test_doctor_repairs_and_reports_what_a_kill_left_undone(run, monkeypatch):
    """`station doctor` on a home where a kill cut `close-poll` short (no seal.json) and a checkpoint file never
    appeared: it seals the poll and writes the checkpoint file, says so, and exits 0."""
    monkeypatch.setenv("STATION_AUDIT__CHECKPOINT_EVERY", "1")
    assert run("init").exit_code == 0
    closed = run("close-poll")
    assert closed.exit_code == 0, closed.output
    seal = run.home / "audit" / "seal.json"
    checkpoint = run.home / "audit" / "checkpoints" / "000000001.json"
    original = checkpoint.read_bytes()
    seal.unlink()
    checkpoint.unlink()
    doctor = run("doctor")
    assert doctor.exit_code == 0, doctor.output
    lines = doctor.stdout.splitlines()
    assert any(line.startswith("ok   closing seal: polls closed but not sealed") and "sealed now" in line
               for line in lines), doctor.stdout
    assert any(line.startswith("ok   audit files:") and "entries 1" in line for line in lines), doctor.stdout
    assert seal.is_file() and checkpoint.read_bytes() == original
    again = json.loads(run("doctor", "--json").stdout)["checks"]
    assert {"name": "audit files", "ok": True, "detail": "nothing to repair"} in again


def test_doctor_on_a_home_never_initialised_says_so_in_one_failure(run):
    """Doctor on a home `station init` never made used to print a dozen failures (missing tables with SQLAlchemy's
    links, "restore it from a backup"): it says the one thing to do, and exits 1."""
    run.home.mkdir()
    result = run("doctor")
    assert result.exit_code == 1, result.output
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1 and "not initialised" in failures[0] and "station init" in failures[0], result.stdout
    assert "Background on this error" not in result.output
