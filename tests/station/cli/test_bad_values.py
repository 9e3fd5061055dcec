"""Values the command line must refuse in one line (found by an audit of the installed CLI): a number too large for
the database, a damaged station certificate, a synthetic set too small to score, an FMR outside [0, 1], report
settings that are not hours or a time zone, a key file that is a folder, a date of birth in the future, a blank
operator. Never "internal error ... this is a bug" (70), never a traceback."""
from __future__ import annotations

import json
import shutil
import zipfile

import click
import pytest
from click.testing import CliRunner

from station.cli.common import ExitCode
from station.cli.main import main
from tests.station.cli.test_bad_input import ALL, Deadline, assert_one_error
from tests.support.cli import database_env

HUGE = "99999999999999999999"  # > 2**63 - 1: no SQLite or PostgreSQL integer holds it


def runner_for(home, database: dict):
    def invoke(*args: str, input: str = ""):
        with Deadline(120):
            return CliRunner().invoke(main, ["--profile", "test", "--home", str(home), *args], input=input,
                                      env={"STATION_HOME": None, "STATION_PROFILE": None, **database})
    invoke.home = home
    return invoke


@pytest.fixture(scope="module")
def run(tmp_path_factory, make_database_url):
    """An initialised station whose log holds one entry (the poll closed) and a checkpoint, and its bundle."""
    folder = tmp_path_factory.mktemp("bad-values")
    invoke = runner_for(folder / "home", database_env(make_database_url))
    for argv in (["init"], ["close-poll"], ["audit", "checkpoint"],
                 ["audit", "export", "--out", str(folder / "b1.bundle")]):
        result = invoke(*argv)
        assert result.exit_code == 0, (argv, result.output)
    invoke.bundle = folder / "b1.bundle"
    return invoke


def test_a_bundle_whose_roll_is_not_an_object_is_one_line(run, tmp_path):
    damaged = tmp_path / "roll-list.bundle"
    with zipfile.ZipFile(run.bundle) as z, zipfile.ZipFile(damaged, "w") as out:
        for name in z.namelist():
            out.writestr(name, b"[1, 2, 3]" if name == "roll.json" else z.read(name))
    result = run("audit", "verify", str(damaged))
    assert_one_error(result, {ExitCode.CHECK_FAILED})
    assert "roll.json" in result.output
    for argv in (["audit", "verify", str(damaged), "--self-signed-ok"],
                 ["audit", "merge", str(damaged), "--self-signed-ok"],
                 ["audit", "report", str(damaged), "--self-signed-ok", "--out", str(tmp_path / "r.html")]):
        result = run(*argv)
        assert result.exit_code in (ExitCode.DONE, ExitCode.CHECK_FAILED), (argv, result.output)
        assert "Traceback" not in result.output and "internal error" not in result.output


@pytest.mark.parametrize("argv", [
    ("audit", "prove", HUGE, "--out", "{tmp}/p.json"),
    ("audit", "prove", "1", "--size", HUGE, "--out", "{tmp}/p.json"),
    ("audit", "consistency", "1", HUGE, "--out", "{tmp}/p.json"),
    ("audit", "consistency", HUGE, HUGE, "--out", "{tmp}/p.json"),
    ("roll", "list", "--limit", HUGE),
    ("roll", "package", "--station", "X", "--base", HUGE, "--out", "{tmp}/x.pkg"),
], ids=" ".join)
def test_a_number_too_large_for_the_database_is_a_usage_error(run, tmp_path, argv):
    result = run(*(a.format(tmp=tmp_path) for a in argv))
    assert_one_error(result, {ExitCode.USAGE})
    assert "internal error" not in result.output


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_a_damaged_station_certificate_is_named(run, tmp_path, damage):
    cert = run.home / "keys" / "station.crt"
    kept = tmp_path / "station.crt"
    shutil.copy2(cert, kept)
    pem = kept.read_bytes()
    cert.write_bytes({"empty": b"", "truncated": pem[:len(pem) // 2], "garbage": b"\x00garbage\xff" * 9}[damage])
    try:
        doctor = run("doctor")
        assert doctor.exit_code == ExitCode.CHECK_FAILED, doctor.output
        assert "internal error" not in doctor.output
        assert any(line.startswith("FAIL") and str(cert) in line for line in doctor.stdout.splitlines()), \
            doctor.stdout
        for argv in (["audit", "checkpoint"], ["sync", "export", "--out", str(tmp_path / "s.json")]):
            result = run(*argv)
            assert_one_error(result, {ExitCode.REFUSED})
            assert str(cert) in result.stderr, (argv, result.stderr)
    finally:
        shutil.copy2(kept, cert)


@pytest.mark.parametrize("argv", [
    ("bench", "accuracy", "--synthetic", "1x1", "--quiet"),
    ("bench", "accuracy", "--synthetic", "0x0", "--quiet"),
    ("bench", "accuracy", "--synthetic", "5x1", "--quiet"),
    ("calibrate", "--modality", "fingerprint", "--synthetic", "1x1@1", "--dry-run", "--quiet"),
    ("calibrate", "--modality", "fingerprint", "--synthetic", "2x0@1", "--dry-run", "--quiet"),
], ids=" ".join)
def test_a_synthetic_set_below_2x2_is_a_usage_error(run, argv):
    result = run(*argv)
    assert_one_error(result, {ExitCode.USAGE})
    assert "synthetic:" in result.stderr and "at least 2" in result.stderr  # --synthetic, --calibration-synthetic


@pytest.mark.parametrize("argv", [
    ("bench", "accuracy", "--synthetic", "99999999999999999999x2", "--quiet"),
    ("bench", "accuracy", "--synthetic", "10x100", "--quiet"),
    ("calibrate", "--modality", "fingerprint", "--synthetic", "20000x2@1", "--dry-run", "--quiet"),
], ids=" ".join)
def test_a_synthetic_set_beyond_what_a_run_can_hold_is_a_usage_error(run, argv):
    """Without a bound, 10^20 fingers was taken and the run grew without output until memory ran out."""
    result = run(*argv)
    assert_one_error(result, {ExitCode.USAGE})
    assert "synthetic:" in result.stderr and "at most 10000 fingers and 32 impressions" in result.stderr


def test_more_planted_duplicates_than_people_is_a_usage_error(run):
    """`bench registration --people 2 --duplicates 1000` planted 2 and said nothing."""
    result = run("bench", "registration", "--people", "2", "--duplicates", "1000")
    assert_one_error(result, {ExitCode.USAGE})
    assert "--duplicates" in result.stderr and "at most one per person" in result.stderr


@pytest.mark.parametrize("fmr", ["5", "-1", "1.5"])
def test_an_fmr_outside_0_1_is_refused_before_the_benchmark(run, fmr):
    result = run("bench", "accuracy", "--synthetic", "2x2", "--fmr", fmr)
    assert_one_error(result, {ExitCode.USAGE})
    assert "--fmr" in result.stderr


@pytest.mark.parametrize(("option", "value"), [("--polling-hours", "garbage"), ("--polling-hours", "08:00-25:00"),
                                               ("--timezone", "Mars/Base"), ("--timezone", "")])
def test_report_settings_are_usage_errors_naming_the_option(run, tmp_path, option, value):
    out = tmp_path / "rep.html"
    result = run("audit", "report", str(run.bundle), "--out", str(out), "--self-signed-ok", option, value)
    assert_one_error(result, {ExitCode.USAGE})
    assert option in result.stderr and "bundle" not in result.stderr
    assert not out.exists()


def test_a_report_that_fails_to_render_leaves_the_previous_one(run, tmp_path, monkeypatch):
    from station.audit import report
    from station.errors import InvalidInput

    out = tmp_path / "rep.html"
    out.write_text("the previous report")

    def broken(*args, **kwargs):
        raise InvalidInput("the report cannot be rendered")

    monkeypatch.setattr(report, "render_html", broken)
    result = run("audit", "report", str(run.bundle), "--out", str(out), "--self-signed-ok")
    assert_one_error(result, {ExitCode.REFUSED})
    assert out.read_text() == "the previous report"
    monkeypatch.undo()
    written = run("audit", "report", str(run.bundle), "--out", str(out), "--self-signed-ok")
    assert written.exit_code == 0, written.output
    assert json.loads(written.stdout)["out"] == str(out) and "<html" in out.read_text().lower()


def test_a_key_file_that_is_a_folder_is_said_to_be_no_file(run, tmp_path):
    key = run.home / "keys" / "template.key"
    kept = tmp_path / "template.key"
    shutil.copy2(key, kept)
    key.unlink()
    key.mkdir(mode=0o755)
    try:
        doctor = run("doctor")
        assert doctor.exit_code == ExitCode.CHECK_FAILED, doctor.output
        [line] = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL station key")]
        assert "not a file" in line and "readable by others" not in line, line
    finally:
        key.rmdir()
        shutil.copy2(kept, key)


def test_a_date_of_birth_in_the_future_is_refused(run):
    result = run("roll", "correct", "12345-1234567-1", "--set", "date_of_birth=2099-01-01")
    assert_one_error(result, {ExitCode.REFUSED})
    assert "date_of_birth" in result.stderr and "2099-01-01" in result.stderr


def test_a_blank_operator_is_a_usage_error(tmp_path, make_database_url):
    invoke = runner_for(tmp_path / "home", database_env(make_database_url))
    assert invoke("init").exit_code == 0
    for blank in ("", "   "):
        result = invoke("close-poll", "--operator", blank)
        assert_one_error(result, {ExitCode.USAGE})
        assert "--operator" in result.stderr
    assert invoke("close-poll").exit_code == 0  # the blank ones closed nothing


def test_every_operator_option_refuses_a_blank_name():
    operators = [(path, p) for path, command in ALL for p in command.params if "--operator" in getattr(p, "opts", ())]
    assert len(operators) >= 10
    for path, param in operators:
        ctx = click.Context(click.Command(path[-1]))
        with pytest.raises(click.BadParameter):
            param.process_value(ctx, " ")
        assert param.process_value(ctx, "presiding") == "presiding"


@pytest.mark.parametrize("argv", [
    ("user", "disable", "of\udcffficer"),  # sys.argv's form of a byte that is not UTF-8 (surrogateescape)
    ("roll", "list", "--polling-station", "PS-\udcff"),
    ("token", "revoke", "--user", "\udcff"),
], ids=lambda argv: argv[0])
def test_an_argument_that_is_not_utf8_text_is_a_usage_error(run, argv):
    """A byte that is not UTF-8 in an argument reached the database or the log as text and ended in "internal error"
    (exit 70). The station takes UTF-8 only: refused in one line, before the command runs."""
    result = run(*argv)
    assert_one_error(result, {ExitCode.USAGE})
    assert "not UTF-8 text" in result.stderr


@pytest.mark.parametrize("argv, named", [
    (("tls", "issue", "--hostname", "bad host name!"), "'bad host name!'"),
    (("tls", "issue", "--hostname", "-lead.example"), "'-lead.example'"),
    (("tls", "issue", "--hostname", "station.example.com"), "station.example.com"),  # outside the CA's constraints
    (("tls", "issue", "--ip", "8.8.8.8"), "8.8.8.8"),  # a public address: outside them too
], ids=lambda v: v[-1] if isinstance(v, tuple) else v)
def test_a_name_asked_for_that_the_certificate_cannot_hold_is_refused(run, argv, named):
    """`tls issue --hostname 'bad host name!'` used to exit 0, leaving the name out with only a log line: a device
    then failed to connect by that name. A name or address asked for on the command line is in the certificate, or
    the command is refused and the old certificate kept."""
    cert = run.home / "keys" / "tls-server.crt"
    before = cert.read_bytes() if cert.exists() else None
    result = run(*argv)
    assert_one_error(result, {ExitCode.REFUSED})
    assert named in result.stderr
    assert (cert.read_bytes() if cert.exists() else None) == before


@pytest.mark.parametrize("name", ["print.txt", "print", "print.jpg"])
def test_a_device_capture_goes_to_a_png_file_or_is_refused(run, tmp_path, name):
    """`devices capture --out x.txt` ended in exit 70 with OpenCV's two-line message; a .jpg name got a JPEG though
    the help says PNG. The output is a .png file; any other name is refused in one line, before the capture."""
    result = run("devices", "capture", "fingerprint", "--out", str(tmp_path / name))
    assert_one_error(result, {ExitCode.USAGE})
    assert ".png" in result.stderr and not (tmp_path / name).exists()


def test_a_secret_that_is_not_utf8_text_is_one_line(run, tmp_path):
    """A passphrase file or a password on standard input holding bytes that are not UTF-8 ended in exit 70."""
    secret = tmp_path / "passphrase"
    secret.write_bytes(b"\xff\xfe not text\n")
    result = run("backup", "init", "--passphrase-file", str(secret))
    assert_one_error(result, {ExitCode.REFUSED})
    assert "not UTF-8 text" in result.stderr
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(run.home), "user", "add", "clerk9",
                                       "--role", "auditor"], input=b"\xff\xfepassword\n",
                                env={"STATION_HOME": None, "STATION_PROFILE": None})
    assert_one_error(result, {ExitCode.REFUSED})
    assert "not UTF-8 text" in result.stderr
