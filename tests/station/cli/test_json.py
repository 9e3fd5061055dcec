"""``--json`` on every command (docs/cli.md): standard output is then exactly one JSON document, every message goes to
standard error. The click tree is walked (tests/station/cli/test_bad_input.py ``commands``), so a new command without
``--json`` fails here; the commands that run quickly are run with ``--json`` on one station, as a commission and a
station would use them, and their whole standard output parsed as one document. The servers (``serve``, ``demo``,
``card emulate``) are started as processes: their one document, once they are ready, says where they answer."""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from station.cli.main import main
from tests.station.cli.test_bad_input import ALL, Deadline
from tests.support.cli import database_env
from tests.support.stations import free_port

NAMES = {" ".join(path) for path, _ in ALL}


def takes_json(command: click.Command) -> bool:
    return any(isinstance(p, click.Option) and "--json" in p.opts for p in command.params)


def test_every_command_takes_json():
    assert len(ALL) >= 70
    assert [" ".join(path) for path, command in ALL if not takes_json(command)] == []


# The commands not run by the walk below, and why; every other command must be in it (checked).
NOT_RUN = {
    "serve": "a server: test_serve_json_announces_where_it_answers",
    "card emulate": "a server: test_card_emulate_json_announces_the_vpcd_slot",
    "demo": "a server: test_demo_json_announces_where_it_answers_and_the_logins",
    "authority simulate": "a server: tests/station/authority (its JSON line is the contract its tests read)",
    "card read": "needs pcscd and vpcd: tests/acceptance/test_card_station.py reads `card read --json`",
    "card issue": "needs a voter on the roll (a synthetic roll: fingerprints take a while)",
    "roll synth": "synthesises fingerprints (slow): tests/station/cli/test_cli.py test_synth_list_and_doctor",
    "roll remove": "needs a voter on the roll",
    "roll correct": "needs a voter on the roll",
    "central dedup": "starts a Dask cluster: tests/station/national",
    "authority check": "needs an ID-authority link (the simulator): tests/station/authority",
    "authority roll-updates": "needs an ID-authority link (the simulator): tests/station/authority",
    "authority flush": "needs an ID-authority link (the simulator): tests/station/authority",
    "roll add-station": "needs a polling scheme, hence a roll: tests/station/packages",
    "roll package": "needs a registered station (a roll): tests/station/packages",
    "roll import": "needs a package (a roll): tests/station/packages",
    "roll reinstate": "needs a voter removed from a roll: tests/station/packages",
    "authority setup": "needs the simulator's state folder: tests/station/authority",
    **{name: "a benchmark (station/cli/bench.py, not this test's)" for name in NAMES
       if name.startswith("bench ") or name == "calibrate"},
}


@pytest.fixture
def station_cli(tmp_path, make_database_url):
    home = tmp_path / "home"
    database = database_env(make_database_url)

    def invoke(*args: str, input: str | None = None, env: dict | None = None):
        with Deadline(120):
            return CliRunner().invoke(main, ["--profile", "test", "--home", str(home), *args], input=input,
                                      env={"STATION_HOME": None, "STATION_PROFILE": None,
                                           "STATION_BACKUP_PASSPHRASE": None, "STATION_KEYS_PASSPHRASE": None,
                                           "STATION_CENTRAL_DB_URL": None, **database, **(env or {})})
    invoke.home = home
    invoke.other_database = lambda: database_env(make_database_url)  # for a second home (a restore)
    return invoke


@pytest.mark.slow
def test_json_is_one_document_on_every_command_that_runs_quickly(station_cli, tmp_path):
    f = tmp_path / "files"
    f.mkdir()
    (f / "passphrase").write_text("a backup passphrase long enough\n")
    ran: set[str] = set()
    problems: list[str] = []
    results: dict[str, object] = {}

    def run(*argv: str, words: int = 1, input: str | None = None, codes=(0,), env: dict | None = None):
        """``station ARGV --json``: exit code in ``codes``, standard output one JSON document (returned)."""
        name = " ".join(argv[:words])
        ran.add(name)
        result = station_cli(*argv, "--json", input=input, env=env)
        where = f"station {' '.join(argv)} --json (exit {result.exit_code})"
        if "Traceback" in result.output or (result.exception and not isinstance(result.exception, SystemExit)):
            problems.append(f"{where}: {result.exception!r}\n{result.output}")
            return None
        if result.exit_code not in codes:
            problems.append(f"{where}: stderr {result.stderr!r}")
            return None
        try:
            document = json.loads(result.stdout)
        except ValueError as exc:
            problems.append(f"{where}: standard output is not one JSON document ({exc}):\n{result.stdout}")
            return None
        results[name] = document
        return document

    checks = (0, 1)  # a checking command reports a problem it found in its one document, and exits 1
    run("init")
    run("user", "add", "clerk", "--role", "technician", words=2, input="long-enough-pass\n")
    run("user", "disable", "clerk", words=2)
    run("user", "enable", "clerk", words=2)
    run("token", "revoke", "--user", "clerk", words=2)
    run("doctor", codes=checks)
    run("keys", "status", words=2)
    run("keys", "protect", "--mode", "plain", words=2)
    run("devices", "list", words=2)
    run("devices", "test", "fingerprint", "--captures", "1", words=2)
    run("devices", "capture", "fingerprint", "--out", str(f / "print.png"), words=2)
    run("tls", "show", words=2)
    run("tls", "issue", words=2)
    run("tls", "export-ca", "--out", str(f / "station-ca.crt"), words=2)
    run("roll", "list", words=2)
    run("roll", "hash", words=2)
    run("roll", "status", words=2)
    # this home is also the commission: it certifies itself as a registration centre (a station needs a polling
    # scheme, hence a roll: tests/station/packages)
    run("roll", "commission-init", "--out", str(f / "commission.pub"), "--cert-out", str(f / "commission.crt"),
        words=2)
    run("roll", "station-key", "--out", str(f / "station.pub"), words=2)
    run("roll", "trust", str(f / "commission.pub"), words=2)
    run("roll", "stations", words=2)
    run("identity", "request", "--out", str(f / "station.csr"), words=2)
    run("roll", "add-centre", "AJK-DEMO-01", "--request", str(f / "station.csr"), "--out", str(f / "centre.crt"),
        words=2)
    run("identity", "install", str(f / "centre.crt"), "--commission-cert", str(f / "commission.crt"), words=2)
    run("identity", "show", words=2)
    first = run("audit", "checkpoint", words=2)
    listed = run("roll", "certificates", words=2)
    if listed is not None:
        assert [c["subject"] for c in listed["certificates"]] == ["AJK-DEMO-01"], listed
    text = station_cli("roll", "certificates")  # without --json: a line each, for a person
    assert text.exit_code == 0 and text.stdout.startswith(listed["certificates"][0]["serial"]), text.output
    assert text.stdout.count("\n") == 1 and text.stdout.rstrip().endswith(": valid"), text.output
    run("registrations", "export", "--recipient", str(f / "station.pub"), "--out", str(f / "registrations.bin"),
        words=2)
    run("roll", "admit", str(f / "registrations.bin"), "--commission-cert", str(f / "commission.crt"), words=2,
        codes=checks)
    second = run("audit", "checkpoint", words=2)
    run("audit", "checkpoints", words=2)
    run("audit", "export", "--out", str(f / "bundle.json"), words=2)
    run("audit", "verify", str(f / "bundle.json"), "--commission-cert", str(f / "commission.crt"), words=2,
        codes=checks)
    run("audit", "merge", str(f / "bundle.json"), "--commission-cert", str(f / "commission.crt"), words=2,
        codes=checks)
    run("audit", "report", str(f / "bundle.json"), "--out", str(f / "report.html"),
        "--commission-cert", str(f / "commission.crt"), words=2)
    run("audit", "prove", "1", "--out", str(f / "inclusion.json"), words=2)
    if first and second:
        run("audit", "consistency", str(first["tree_size"]), str(second["tree_size"]), "--out",
            str(f / "consistency.json"), words=2)
    run("audit", "check-proof", str(f / "inclusion.json"), "--commission-cert", str(f / "commission.crt"), words=2,
        codes=checks)
    run("audit", "witness-key", "--out", str(f / "witness.key"), "--name", "observer.example/w1", words=2)
    if second:
        run("audit", "witness", second["files"][0], "--key", str(f / "witness.key"), "--state",
            str(f / "witness.state"), "--station-cert", str(f / "centre.crt"), words=2, codes=checks)
    run("backup", "init", "--passphrase-file", str(f / "passphrase"), words=2)
    run("backup", "create", "--out", str(f / "station.backup"), words=2)
    run("backup", "verify", str(f / "station.backup"), "--passphrase-file", str(f / "passphrase"),
        "--commission-cert", str(f / "commission.crt"), words=2, codes=checks)
    run("backup", "restore", str(f / "station.backup"), "--home", str(tmp_path / "restored"),
        "--passphrase-file", str(f / "passphrase"), "--commission-cert", str(f / "commission.crt"), words=2,
        env=station_cli.other_database())
    run("sync", "export", "--out", str(f / "results.export"), words=2)
    run("central", "verify", str(f / "results.export"), "--commission-cert", str(f / "commission.crt"), words=2,
        codes=checks)
    run("central", "merge", str(f / "results.export"), "--db", f"sqlite:///{f / 'central.db'}",
        "--commission-cert", str(f / "commission.crt"), words=2, codes=checks)
    run("roll", "revoke", "AJK-DEMO-01", "--reason", "superseded", words=2)
    assert "REVOKED" in station_cli("roll", "certificates").stdout
    run("roll", "crl", "--out", str(f / "crl.pem"), words=2)
    run("authority", "queue", words=2)
    run("install", "--root", str(tmp_path / "root"), "--no-init", "--dry-run")
    run("uninstall", "--root", str(tmp_path / "root"), "--dry-run")
    run("close-poll")

    assert problems == [], "\n\n".join(problems)
    assert sorted(NAMES - ran - set(NOT_RUN)) == [], "commands neither run here nor listed in NOT_RUN"
    assert sorted(ran & set(NOT_RUN)) == []


# --- the servers: one JSON document when ready, then they run until SIGTERM ---
def read_line(proc: subprocess.Popen, seconds: float) -> str:
    """The first line of the child's standard output, or fail (with its standard error) after ``seconds``."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    if not ready:
        proc.kill()
        pytest.fail(f"no line on standard output in {seconds}s; stderr: {proc.communicate()[1]}")
    return proc.stdout.readline()


def station_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATION_")}
    return {**env, "STATION_HOME": str(home), "STATION_PROFILE": "test"}


def stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"not stopped by SIGTERM in 20s; stderr: {err}")
    return proc.returncode, out, err


def announced_server(argv: list[str], home: Path, port: int, seconds: float) -> tuple[dict, str]:
    """Start ``station ARGV --json``; its first line is one JSON document naming a URL that answers /api/health.
    Then SIGTERM: it stops with exit 0, nothing more on standard output. Returns the document and standard error."""
    proc = subprocess.Popen([sys.executable, "-m", "station", *argv, "--port", str(port), "--json"],
                            env=station_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        announced = json.loads(read_line(proc, seconds))
        assert announced["url"] == f"http://127.0.0.1:{port}"
        assert announced["pid"] == proc.pid
        assert Path(announced["home"]) == home and announced["profile"] == "test"
        with urllib.request.urlopen(f"{announced['url']}/api/health", timeout=10) as answer:
            assert answer.status == 200
    finally:
        code, out, err = stop(proc)
    assert out == "", f"more than one document on standard output: {out!r}"
    assert code == 0, err
    assert "Traceback" not in err and "serving on" in err  # the banner, for a person, on standard error
    return announced, err


@pytest.mark.slow
def test_serve_json_announces_where_it_answers(tmp_path):
    home = tmp_path / "home"
    init = subprocess.run([sys.executable, "-m", "station", "init", "--json"], env=station_env(home),
                          capture_output=True, text=True, check=False, timeout=120)
    assert init.returncode == 0, init.stderr
    announced, _ = announced_server(["serve", "--host", "127.0.0.1"], home, free_port(), 60)
    assert announced["station"] and announced["keys"] == "plain" and announced["keys_locked"] is False
    # without --json: the banner on standard output, as before
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "station", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=station_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert f"serving on http://127.0.0.1:{port}" in read_line(proc, 60)
    finally:
        stop(proc)


@pytest.mark.slow
def test_demo_json_announces_where_it_answers_and_the_logins(tmp_path):
    """The demo's roll (one voter) and logins are made first, its messages on standard error."""
    home = tmp_path / "home"
    announced, err = announced_server(["demo", "--voters", "1"], home, free_port(), 300)
    assert {"username": "officer", "password": "officer-demo-pass", "role": "polling_officer"} in announced["logins"]
    assert "building a synthetic roll of 1 voters" in err and "Station ready at" in err


def test_serve_json_refusing_to_start_is_one_error_line(tmp_path):
    """Not initialised: one error line, nothing on standard output, exit 3 (refused)."""
    proc = subprocess.run([sys.executable, "-m", "station", "serve", "--port", str(free_port()), "--json"],
                          env=station_env(tmp_path / "never-initialised"), capture_output=True, text=True,
                          check=False, timeout=120)
    assert (proc.returncode, proc.stdout) == (3, "")
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "station init" in proc.stderr


class FakeVpcd:
    """vpcd's side of its socket: listens where pcscd's vpcd driver would, takes one card, asks for its ATR, and holds
    the card until closed."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.server.settimeout(30)
        self.conn: socket.socket | None = None

    def atr(self) -> bytes:
        self.conn, _ = self.server.accept()
        self.conn.settimeout(10)
        self.conn.sendall(b"\x00\x01\x04")  # a control message of one byte: GET ATR
        size = int.from_bytes(self.conn.recv(2), "big")
        return self.conn.recv(size)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


def a_virtual_card(folder: Path) -> Path:
    """A virtual card file as `card issue` writes it (tests/support/card.py: the test issuer, no roll needed)."""
    from tests.support.card import make_card

    card = folder / "voter.card"
    card.write_bytes(make_card(face=False))
    return card


def test_card_emulate_json_announces_the_vpcd_slot(tmp_path):
    card = a_virtual_card(tmp_path)
    vpcd = FakeVpcd()
    proc = subprocess.Popen([sys.executable, "-m", "station", "card", "emulate", "--card", str(card),
                             "--port", str(vpcd.port), "--json"], env=station_env(tmp_path / "home"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        atr = vpcd.atr()
        announced = json.loads(read_line(proc, 30))
        assert announced["vpcd"] == f"127.0.0.1:{vpcd.port}" and announced["card"] == str(card)
        assert announced["pid"] == proc.pid and atr[0] == 0x3B  # a direct-convention ATR
    finally:
        code, out, err = stop(proc)
        vpcd.close()
    assert out == "" and code == 0, err
    assert "Traceback" not in err


@pytest.mark.slow
def test_card_emulate_json_without_vpcd_is_one_error_line(tmp_path):
    """No vpcd listening (it waits 10 s for one): one error line, nothing on standard output, exit 3."""
    card = a_virtual_card(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "station", "card", "emulate", "--card", str(card), "--port",
                           str(free_port()), "--json"], env=station_env(tmp_path / "home"),
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.stdout == "" and proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "vpcd is not listening" in errors[0] and "Traceback" not in proc.stderr
