"""A ``database.url`` the station cannot use is one line naming the setting (found by an audit of the installed CLI):
a driver that is not installed or a database the station does not run on (MySQL, SQL Server) ended every command,
doctor included, in "internal error (ModuleNotFoundError ...): this is a bug" (exit 70); a URL that does not parse
said "database error: ArgumentError"; and a database that cannot be reached was reported as "the station is not
initialised: run `station init` first", on a station that was."""
from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from station.cli.common import ExitCode
from station.cli.main import main
from tests.station.cli.test_bad_input import Deadline, assert_one_error


def invoke(home, url: str, *args: str):
    with Deadline(60):  # `serve` would otherwise serve on
        return CliRunner().invoke(main, ["--profile", "test", "--home", str(home), *args],
                                  env={"STATION_HOME": None, "STATION_PROFILE": None, "STATION_DATABASE__URL": url})


@pytest.mark.parametrize("url, says", [
    ("mysql://user:secret@db.example/roll", "'mysql' databases are not supported"),
    ("mssql+pyodbc://user:secret@db.example/roll", "'mssql' databases are not supported"),
    ("nonsense", "is not a database URL"),
    ("postgresql+nosuchdriver://user:secret@db.example/roll", "cannot be used"),
])
@pytest.mark.parametrize("command", [("doctor",), ("roll", "status"), ("serve", "--port", "18734")])
def test_a_database_url_the_station_cannot_use_is_one_line_naming_it(tmp_path, url, says, command):
    result = invoke(tmp_path / "home", url, *command)
    assert_one_error(result, (ExitCode.USAGE,))
    assert "database.url" in result.stderr and says in result.stderr, result.stderr
    assert "secret" not in result.output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_database_that_cannot_be_reached_is_not_called_uninitialised(tmp_path):
    url = f"postgresql://user:secret@127.0.0.1:{_closed_port()}/roll"
    for command in (("roll", "status"), ("audit", "export", "--out", str(tmp_path / "b.zip"))):
        result = invoke(tmp_path / "home", url, *command)
        assert_one_error(result, (ExitCode.REFUSED,))
        assert "cannot reach the database postgresql://user:***@127.0.0.1" in result.stderr, result.stderr
        assert "not initialised" not in result.stderr and "secret" not in result.output
    doctor = invoke(tmp_path / "home", url, "doctor")  # one FAIL line for it, not one per check that needs it
    assert doctor.exit_code == ExitCode.CHECK_FAILED, doctor.output
    failed = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and failed[0].startswith("FAIL database: cannot reach the database"), doctor.output
    missing = tmp_path / "no-such-folder" / "station.db"  # SQLite: no file there is a station not initialised
    result = invoke(tmp_path / "home", f"sqlite:///{missing}", "roll", "status")
    assert_one_error(result, (ExitCode.REFUSED,))
    assert f"the station is not initialised (no database at sqlite:///{missing})" in result.stderr, result.stderr
