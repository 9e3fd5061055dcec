"""Every ``station`` command, found by walking the click tree, given bad input: never a traceback, one error line, and
an exit code of the table in docs/cli.md (2 usage, 3 refused, 1 a check that failed)."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from station.cli.common import ExitCode
from station.cli.main import RUN_UNTIL_STOPPED, main

ERROR_CODES = {ExitCode.CHECK_FAILED, ExitCode.USAGE, ExitCode.REFUSED}
# Commands that keep running once their input is accepted (a server, the simulated authority): their bad input is
# checked by the unknown-option case only.
SERVERS = {*RUN_UNTIL_STOPPED, "simulate"}


def commands(group: click.Group = main, path: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


ALL = list(commands())
IDS = [" ".join(p) for p, _ in ALL]


def test_the_walk_finds_every_group_and_command():
    names = set(IDS)
    assert {"init", "doctor", "roll import", "audit verify", "bench accuracy", "backup verify", "calibrate"} <= names
    assert len(ALL) >= 70


def junk(param: click.Parameter, path_value: str) -> list[str]:
    """A bad but well-formed value for ``param``: ``path_value`` for a path, the smallest number allowed, a choice,
    or a string that is nothing in particular."""
    kind = param.type
    if isinstance(kind, (click.Path, click.File)):
        value = path_value
    elif isinstance(kind, click.Choice):
        value = str(kind.choices[-1])
    elif isinstance(kind, (click.IntRange, click.FloatRange)):
        value = str(kind.min if kind.min is not None else 1)
    elif isinstance(kind, click.types.IntParamType):
        value = "1"
    elif isinstance(kind, click.types.FloatParamType):
        value = "1.0"
    else:
        value = "garbage"
    if isinstance(param, click.Argument):
        return [value] * (param.nargs if param.nargs > 0 else 1)
    return [param.opts[0], value]


def has_path(command: click.Command) -> bool:
    return any(isinstance(p.type, (click.Path, click.File)) for p in command.params)


# Paths a command writes: given a path inside a folder that does not exist. Paths it creates when missing (a
# folder, a witness's state): given the garbage file instead.
OUTPUTS = {"out", "cert_out", "plot"}
CREATED = {"root", "state_file", "cache_dir", "new_home"}


def bad_argv(command: click.Command, path_value: str, garbage_file: str = "") -> list[str]:
    """Every path parameter (required or not) given ``path_value``, every other required parameter some junk."""
    argv: list[str] = []
    for param in command.params:
        if param.name in OUTPUTS:
            argv += junk(param, str(Path(path_value).parent / "no-such-folder" / "out"))
        elif param.name in CREATED:
            argv += junk(param, garbage_file)
        elif isinstance(param.type, (click.Path, click.File)) or param.required:
            argv += junk(param, path_value)
    return argv


def assert_one_error(result, codes=ERROR_CODES) -> None:
    out = result.output
    assert "Traceback" not in out, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in codes, (result.exit_code, out)
    errors = [line for line in result.stderr.splitlines() if line.lower().startswith("error")]
    if result.exit_code == ExitCode.CHECK_FAILED and not errors:  # a check's own report says what failed
        assert result.stdout.strip(), out
    else:
        assert len(errors) == 1, result.stderr


class Expired(BaseException):
    """Not an Exception: no handler of the command may turn it into an exit code."""


class Deadline:
    """Fail, rather than hang, when a command does long work on input it should have refused."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __enter__(self):
        def expire(*_):
            raise Expired(f"no answer in {self.seconds}s")
        self.previous = signal.signal(signal.SIGALRM, expire)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


@pytest.fixture
def run(tmp_path):
    home = tmp_path / "home"  # never initialised: every command that needs a station says so

    def invoke(*args: str, input: str = ""):
        with Deadline(60):
            return CliRunner().invoke(main, ["--profile", "test", "--home", str(home), *args], input=input,
                                      env={"STATION_HOME": None, "STATION_PROFILE": None,
                                           "STATION_BACKUP_PASSPHRASE": None, "STATION_KEYS_PASSPHRASE": None,
                                           "STATION_CENTRAL_DB_URL": None})
    return invoke


@pytest.mark.parametrize(("path", "command"), ALL, ids=IDS)
def test_an_unknown_option_is_a_usage_error(run, path, command):
    result = run(*path, "--no-such-option")
    assert_one_error(result, {ExitCode.USAGE})
    assert "No such option" in result.stderr


@pytest.mark.parametrize(("path", "command"), [c for c in ALL if has_path(c[1]) and c[0][-1] not in SERVERS],
                         ids=[i for i, c in zip(IDS, ALL) if has_path(c[1]) and c[0][-1] not in SERVERS])
@pytest.mark.parametrize("what", ["missing", "garbage"])
def test_a_missing_or_garbage_file_is_one_line(run, tmp_path, path, command, what):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "junk.bin").write_bytes(b"\x00not what you expected\xff" * 50)
    if what == "missing":
        value = str(tmp_path / "no-such-thing")
    else:  # a garbage file, or a folder of garbage where the command wants a folder
        folders_only = all(not p.type.file_okay for p in command.params
                           if isinstance(p.type, click.Path) and p.type.exists)
        value = str(garbage if folders_only and any(isinstance(p.type, click.Path) and p.type.exists
                                                   for p in command.params) else garbage / "junk.bin")
    result = run(*path, *bad_argv(command, value, str(garbage / "junk.bin")))
    assert_one_error(result)


WRITERS = [c for c in ALL if c[0][-1] not in SERVERS and any(p.name in OUTPUTS for p in c[1].params)]


@pytest.mark.parametrize(("path", "command"), WRITERS, ids=[" ".join(p) for p, _ in WRITERS])
def test_an_output_into_a_folder_that_does_not_exist_is_refused_first(run, tmp_path, path, command):
    """Every file a command writes, in a folder that is not there: exit 2 (docs/cli.md) and one line naming the path
    given, before anything else is looked at (the station here is not even initialised)."""
    garbage = tmp_path / "junk.bin"
    garbage.write_bytes(b"\x00not what you expected\xff")
    folder = tmp_path / "no-such-folder"
    output = next(p for p in command.params if p.name in OUTPUTS)  # first on the line: read before the rest
    result = run(*path, *junk(output, str(folder / "out")), *bad_argv(command, str(garbage), str(garbage)))
    assert_one_error(result, {ExitCode.USAGE})
    assert f"error: cannot write {folder / 'out'}: no such folder {folder}" in result.stderr.splitlines(), \
        result.stderr


# Commands that take no value at all (besides --json): nothing they are given can be wrong; the unknown-option case
# covers them.
NO_INPUT = {"init", "devices list", "keys status"}


def numbers(command: click.Command) -> list[click.Parameter]:
    return [p for p in command.params if isinstance(p, click.Option)
            and isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType))]


def test_the_commands_said_to_take_no_input_take_none():
    for path, command in ALL:
        if " ".join(path) in NO_INPUT:
            assert [p.name for p in command.params] == ["as_json"], path


WITHOUT_FILES = [c for c in ALL if not has_path(c[1]) and c[0][-1] not in SERVERS and " ".join(c[0]) not in NO_INPUT]


@pytest.mark.parametrize(("path", "command"), WITHOUT_FILES, ids=[" ".join(p) for p, _ in WITHOUT_FILES])
def test_a_command_without_files_refuses_junk_or_an_uninitialised_station(run, path, command):
    """A number that is not one (usage), else its required values as junk on a station never initialised."""
    argv = bad_argv(command, "")
    if numbers(command):
        result = run(*path, *argv, numbers(command)[0].opts[0], "not-a-number")
        assert_one_error(result, {ExitCode.USAGE})
    else:
        assert_one_error(run(*path, *argv))


def test_the_real_process_version_and_errors():
    """As a user runs it: --version, an unknown option (2); a damaged bundle to verify (1): tests/station/audit."""
    version = subprocess.run([sys.executable, "-m", "station", "--version"], capture_output=True, text=True,
                             check=False)
    assert version.returncode == 0 and version.stdout.startswith("station ") and version.stderr == ""
    bogus = subprocess.run([sys.executable, "-m", "station", "roll", "list", "--bogus"], capture_output=True,
                           text=True, check=False)
    assert bogus.returncode == 2 and "Traceback" not in bogus.stderr
