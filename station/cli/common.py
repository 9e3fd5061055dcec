"""What every ``station`` command shares: the context holding the profile and home, one-line errors, the
check that the station is initialised, progress on standard error. Command modules import from here, never from
``station.cli``."""
from __future__ import annotations

import functools
import os
import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from drivers.errors import DeviceError
from matching.errors import MatchingError

from station.config import load_config
from station.errors import InvalidInput, StationError


def read_secret(what: str, secret_file: str | None, env: str, *, confirm: bool = False) -> str:
    """A passphrase from ``secret_file`` (its first line), else $``env``, else a hidden prompt on a terminal (twice
    with ``confirm``), else standard input (one line; two, equal, with ``confirm``)."""
    if secret_file:
        with open(secret_file, encoding="utf-8") as fh:
            secret = fh.readline().rstrip("\r\n")
    elif os.environ.get(env):
        secret = os.environ[env]
    elif sys.stdin.isatty():
        secret = click.prompt(what, hide_input=True, confirmation_prompt=confirm, err=True)
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
        if confirm and sys.stdin.readline().rstrip("\r\n") != secret:
            raise InvalidInput(f"the two {what}s on standard input differ (give it twice, one per line)")
    if not secret:
        raise InvalidInput(f"no {what} given (use --passphrase-file, ${env} or type it at the prompt)")
    return secret


def fail(message: str, code: int = 2):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (StationError, DeviceError, MatchingError) as exc:
            fail(str(exc))
        except SQLAlchemyError as exc:
            fail(f"database error: {getattr(exc, 'orig', None) or exc.__class__.__name__}")
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


class Context:
    def __init__(self, profile: str | None, home: str | None) -> None:
        self.profile, self.home = profile, home
        self._station = None

    def config(self, **overrides):
        return load_config(self.profile, home=self.home, overrides=overrides or None)

    def station(self, **overrides):
        from station.runtime import Station

        if self._station is None:
            self._station = Station(self.config(**overrides))
        return self._station


pass_ctx = click.make_pass_decorator(Context)


def db_ready(station) -> None:
    from station.db import engine as db

    if not db.has_schema(station.engine):
        raise StationError("the station is not initialised: run `station init` first")


class StderrProgress:
    """A progress bar per stage on standard error for packages of ``min_total`` voters and more; on a terminal a
    click bar, otherwise a line per 10%. Called as ``progress(stage, done, total)``; ``close()`` ends the last bar."""

    def __init__(self, min_total: int = 5000) -> None:
        self.min_total = min_total
        self.stage, self.done, self.bar, self.shown = None, 0, None, -1

    def __call__(self, stage: str, done: int, total: int) -> None:
        if total < self.min_total:
            return
        if stage != self.stage:
            self.close()
            self.stage, self.done, self.shown = stage, 0, -1
            if sys.stderr.isatty():
                self.bar = click.progressbar(length=total, label=f"{stage:<10}", file=sys.stderr)
                self.bar.__enter__()
        if self.bar is not None:
            self.bar.update(done - self.done)
        elif done * 10 // max(total, 1) > self.shown:
            self.shown = done * 10 // max(total, 1)
            click.echo(f"{stage}: {done * 100 // max(total, 1)}% ({done:,}/{total:,})", err=True)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
