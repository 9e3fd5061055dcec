"""What every ``station`` command shares: the context holding the profile and home, one-line errors, the
check that the station is initialised. Command modules import from here, never from ``station.cli``."""
from __future__ import annotations

import functools
import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from drivers.errors import DeviceError
from matching.errors import MatchingError

from station.config import load_config
from station.errors import StationError


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
