"""What every ``station`` command shares: the context holding the profile and home, the exit codes and one-line
errors, the ``--json`` option and the one way a command prints its result, the check that the station is
initialised, progress bars on standard error. Command modules import from here, never from ``station.cli``.

Exit codes (docs/cli.md), the same in every command:

    0  DONE            the command did what was asked
    1  CHECK_FAILED    a check found a problem: verify, doctor, check-proof, a benchmark below its target, ...
    2  USAGE           the command line is wrong: unknown option, bad value, a file or folder that does not exist,
                       a folder to write in that the user may not write in, an unknown profile or a bad
                       configuration value (click's usage errors exit 2 too)
    3  REFUSED         the input or the station's state was refused: a tampered package, a garbage file, a CNIC not
                       on the roll, a closed poll, missing keys, a device or database that failed; nothing was done
    70 INTERNAL        a bug: one line saying so (the traceback only with ``station -v``)
    130 INTERRUPTED    Ctrl-C
    141 BROKEN_PIPE    the reader of the output stopped reading (`station roll list | head`): nothing more is said
"""
from __future__ import annotations

import contextlib
import enum
import functools
import json
import logging
import os
import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from drivers.errors import DeviceError
from matching.errors import MatchingError
from station.config import load_config
from station.errors import ConfigError, Conflict, InvalidInput, StationError
from station.security.files import NotARegularFile, UnwritableFolder

log = logging.getLogger("station")


class ExitCode(enum.IntEnum):
    """The exit codes of every ``station`` command, written here once (table in the module docstring)."""

    DONE = 0
    CHECK_FAILED = 1
    USAGE = 2
    REFUSED = 3
    INTERNAL = 70  # sysexits.h EX_SOFTWARE
    INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
    BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of the output stopped reading (``| head``), as a shell reports it


# Errors a user can cause; anything else escaping a command is a bug (INTERNAL).
USER_ERRORS = (StationError, DeviceError, MatchingError, SQLAlchemyError, OSError)
# A path named on the command line that is not there, or a folder this user may not write in (checked before the
# command writes: security.files.check_output, check_folder): the same code as click's own ``Path(exists=True)`` check.
_MISSING_PATH = (FileNotFoundError, IsADirectoryError, NotADirectoryError, UnwritableFolder, NotARegularFile)
# A whole number from 1 that a command hands to the database (a log entry, a tree size, a limit, a roll version): at
# most the largest 64-bit integer SQLite and PostgreSQL hold, so a larger one is a usage error, not an OverflowError.
DB_INT_MAX = 2**63 - 1
POSITIVE_DB_INT = click.IntRange(1, DB_INT_MAX)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code of an error a user can cause: USAGE for a bad configuration, a path that does not exist or a
    folder the user may not write in, REFUSED for every other station, device, matching, database or file error."""
    if isinstance(exc, (ConfigError, *_MISSING_PATH)):
        return ExitCode.USAGE
    return ExitCode.REFUSED


def error_message(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {getattr(exc, 'orig', None) or exc.__class__.__name__}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename or ''}".rstrip(": ")
    return str(exc) or exc.__class__.__name__


def fail(message: str, code: int = ExitCode.REFUSED):
    """End the command: ``error: message`` on one line of standard error, exit ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(int(code))


@contextlib.contextmanager
def user_errors():
    """Turn an error a user can cause into one line and its exit code (never a traceback)."""
    try:
        yield
    except click.UsageError:
        raise  # click prints the usage and exits 2
    except click.ClickException as exc:  # a benchmark's "no images": its other errors exit 1, the code of a check
        fail(exc.format_message(), ExitCode.REFUSED)
    except click.Abort:
        fail("aborted", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        _reader_gone()
    except USER_ERRORS as exc:
        fail(error_message(exc), exit_code_for(exc))
    except KeyboardInterrupt:
        fail("interrupted", ExitCode.INTERRUPTED)


def _reader_gone() -> None:
    """End quietly when the output's reader has gone: standard output points to /dev/null first, so that the
    interpreter's last flush of it does not complain on standard error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(int(ExitCode.BROKEN_PIPE))


def handle_errors(fn):
    """A command whose user errors end it with one line and their exit code."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with user_errors():
            return fn(*args, **kwargs)

    return wrapper


class StationGroup(click.Group):
    """The ``station`` group: whatever a command lets escape still ends in one line and a documented exit code, a bug
    included (INTERNAL). An argument that is not UTF-8 text (Python keeps such bytes as surrogates) is a usage error
    before anything runs: names, operators and paths all end up as text in the database, the log or a file."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for n, arg in enumerate(args, 1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                fail(f"argument {n} ({arg.encode('utf-8', 'replace').decode()[:60]!r}) is not UTF-8 text: the station "
                     "takes UTF-8 only", ExitCode.USAGE)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            with user_errors():
                return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except Exception as exc:  # a bug: said in one line; the traceback with -v
            log.info("internal error", exc_info=True)
            fail(f"internal error ({exc.__class__.__name__}: {exc}); this is a bug: run with -v for the traceback",
                 ExitCode.INTERNAL)


# --- output: one JSON document on standard output with --json, messages on standard error ---
JSON_HELP = "print the result as one JSON document on standard output (messages stay on standard error)"
_JSON_WANTED = "station.cli.json"  # in click's ctx.meta, shared by a command's context and its parents'


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[_JSON_WANTED] = True
    return value


def json_option(fn):
    """``--json`` for a command that reads it as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP, callback=_remember_json)(fn)


def _someone(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("name who does it (it is written to the log), not a blank")
    return value


def operator_option(default: str, help: str | None = None):
    """``--operator NAME`` of a command that writes who did it to the log: never blank."""
    return click.option("--operator", default=default, show_default=True, callback=_someone,
                        help=help or "who does it (written to the log)")


def add_json_option(command: click.Command) -> None:
    """Give ``command`` the ``--json`` option when it has none (main.py, for every command of the tree); the command
    then prints through ``emit``, which reads it."""
    if not any("--json" in getattr(p, "opts", ()) for p in command.params):
        command.params.append(click.Option(["--json", "as_json"], is_flag=True, expose_value=False, help=JSON_HELP,
                                           callback=_remember_json))


# The options naming a file a command writes. Checked as the command line is read, before the command runs: an output
# whose folder is not there is refused (exit 2, one line naming the path given) before anything is changed.
OUTPUT_OPTIONS = ("--out", "--cert-out", "--plot")


def _check_output(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from station.security.files import check_output

    if value is not None:
        with user_errors():
            check_output(value, folder_ok=param.type.dir_okay)  # a folder there: `roll package --all --out DIR`
    return value


def add_output_check(command: click.Command) -> None:
    """Check every output option of ``command`` (OUTPUT_OPTIONS) when the command line is read (main.py, for every
    command of the tree)."""
    for param in command.params:
        if (isinstance(param, click.Option) and set(param.opts) & set(OUTPUT_OPTIONS)
                and isinstance(param.type, click.Path) and param.callback is None):
            param.callback = _check_output


def json_wanted() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_JSON_WANTED))


def emit(data, text=None) -> None:
    """A command's result on standard output: one JSON document when --json was given or the command has no text
    form (``text`` None), else ``text`` (a string, or lines)."""
    if text is None or json_wanted():
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(text if isinstance(text, str) else "\n".join(text))


def emit_rows(rows, line) -> None:
    """A listing: with --json one JSON array (streamed, a row per line), else ``line(row)`` per row."""
    as_json = json_wanted()
    first = True
    for row in rows:
        if as_json:
            click.echo(("[" if first else ",") + json.dumps(row, ensure_ascii=False))
        else:
            click.echo(line(row))
        first = False
    if as_json:
        click.echo("[]" if first else "]")


def say(message: str) -> None:
    """A message for the person at the terminal: always on standard error."""
    click.echo(message, err=True)


def read_secret(what: str, secret_file: str | None, env: str, *, confirm: bool = False) -> str:
    """A passphrase from ``secret_file`` (its first line), else $``env``, else a hidden prompt on a terminal (twice
    with ``confirm``), else standard input (one line; two, equal, with ``confirm``)."""
    try:
        if secret_file:
            where = secret_file
            with open(secret_file, encoding="utf-8") as fh:
                secret = fh.readline().rstrip("\r\n")
        elif os.environ.get(env):
            where, secret = f"${env}", utf8_text(os.environ[env], f"${env}")
        elif sys.stdin.isatty():
            where, secret = "the prompt", click.prompt(what, hide_input=True, confirmation_prompt=confirm, err=True)
        else:
            where = "standard input"
            secret = sys.stdin.readline().rstrip("\r\n")
            if confirm and sys.stdin.readline().rstrip("\r\n") != secret:
                raise InvalidInput(f"the two {what}s on standard input differ (give it twice, one per line)")
    except UnicodeDecodeError:
        raise InvalidInput(f"the {what} in {where} is not UTF-8 text") from None
    if not secret:
        raise InvalidInput(f"no {what} given (use --passphrase-file, ${env} or type it at the prompt)")
    return secret


def utf8_text(text: str, what: str) -> str:
    """``text`` when it is UTF-8 text; InvalidInput naming ``what`` when it holds bytes that are not (an environment
    variable or an argument: Python keeps such bytes as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not UTF-8 text") from None
    return text


def read_line(what: str) -> str:
    """One line of standard input (a password given by a script), or a hidden prompt on a terminal; InvalidInput when
    it is not UTF-8 text."""
    if sys.stdin.isatty():
        return click.prompt(what, hide_input=True)
    try:
        return sys.stdin.readline().rstrip("\n")
    except UnicodeDecodeError:
        raise InvalidInput(f"the {what} on standard input is not UTF-8 text") from None


class Context:
    def __init__(self, profile: str | None, home: str | None) -> None:
        self.profile, self.home = profile, home
        self._station = None

    def config(self, **overrides):
        return load_config(self.profile, home=self.home, overrides=overrides or None)

    def station(self, *, interrupted_ok: bool = False, **overrides):
        """The station of this home. Refused (one line) while a backup restore into it was cut off mid-switch;
        what an interrupted roll import left in keys/ is settled first (both: crash consistency, see
        station/backup/restore.py and station/packages/importing.py). ``interrupted_ok``: doctor, which reports
        both instead."""
        from station.backup.restore import interrupted_restore
        from station.runtime import Station

        if self._station is None:
            config = self.config(**overrides)
            problem = None if interrupted_ok else interrupted_restore(config.home)
            if problem:
                raise Conflict(problem)
            station = Station(config)
            if not interrupted_ok:
                try:
                    station.settle_interrupted_import()
                except BaseException:
                    station.close()
                    raise
            self._station = station
        return self._station


pass_ctx = click.make_pass_decorator(Context)


def not_initialised(missing: str) -> StationError:
    """The error of a command run on a home `station init` has not made: ``missing`` names what it looked for."""
    return StationError(f"the station is not initialised ({missing}): run `station init` first")


def db_ready(station) -> None:
    from station.db import engine as db

    if not db.has_schema(station.engine):
        raise not_initialised(f"no database at {db.masked(station.engine.url.render_as_string())}")


class StderrProgress:
    """A progress bar per stage on standard error for ``min_total`` items and more, only when standard error is a
    terminal (off in pipes, logs and tests). Called as ``progress(stage, done, total)``; ``close()`` ends the last
    bar."""

    def __init__(self, min_total: int = 5000) -> None:
        self.min_total = min_total
        self.stage, self.done, self.bar = None, 0, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if total < self.min_total or not sys.stderr.isatty():
            return
        if stage != self.stage:
            self.close()
            self.stage, self.done = stage, 0
            self.bar = click.progressbar(length=total, label=f"{stage:<10}", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __enter__(self) -> "StderrProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
