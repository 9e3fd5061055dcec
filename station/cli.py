"""The ``station`` command. Errors a user can cause print one line on standard error and exit 2; never a traceback."""
from __future__ import annotations

import functools
import json
import logging
import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from drivers.errors import DeviceError
from matching.errors import MatchingError

from .config import load_config
from .errors import StationError

log = logging.getLogger("station")


def _fail(message: str, code: int = 2):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (StationError, DeviceError, MatchingError) as exc:
            _fail(str(exc))
        except SQLAlchemyError as exc:
            _fail(f"database error: {getattr(exc, 'orig', None) or exc.__class__.__name__}")
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper


class Context:
    def __init__(self, profile: str | None, home: str | None) -> None:
        self.profile, self.home = profile, home
        self._station = None

    def config(self, **overrides):
        return load_config(self.profile, home=self.home, overrides=overrides or None)

    def station(self, **overrides):
        from .runtime import Station

        if self._station is None:
            self._station = Station(self.config(**overrides))
        return self._station


pass_ctx = click.make_pass_decorator(Context)


@click.group()
@click.option("--profile", envvar="STATION_PROFILE", default=None, help="simulated (default), hardware or test")
@click.option("--home", envvar="STATION_HOME", default=None, help="data directory (default ./station-home)")
@click.option("-v", "--verbose", is_flag=True, help="log more")
@click.pass_context
def main(ctx: click.Context, profile: str | None, home: str | None, verbose: bool) -> None:
    """Biometric voter verification station."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(profile, home)


@main.command()
@pass_ctx
@handle_errors
def init(ctx: Context) -> None:
    """Create the data directory, the station key (mode 0600) and the database schema."""
    station = ctx.station()
    created = station.init()
    click.echo(f"station home {station.config.home}: key {'created' if created else 'already present'}, schema up to date")


@main.group()
def user() -> None:
    """Station users."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, help="polling_officer, presiding_officer, technician or auditor")
@pass_ctx
@handle_errors
def user_add(ctx: Context, name: str, role: str) -> None:
    """Add a user; the password is read from standard input."""
    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else click.prompt("password", hide_input=True)
    ctx.station().add_user(name, password, role)
    click.echo(f"user {name} ({role}) added")


@main.group("roll")
def roll_group() -> None:
    """The electoral roll."""


@roll_group.command("synth")
@click.option("--voters", type=click.IntRange(1, 200_000), required=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--faces", type=click.Path(file_okay=False), default=None,
              help="folder of labelled photos (<identity>/<image> or labels.csv) to enable the face path")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="processes for fingerprint synthesis")
@pass_ctx
@handle_errors
def roll_synth(ctx: Context, voters: int, seed: int, faces: str | None, workers: int | None) -> None:
    """Build a deterministic synthetic roll with synthetic fingerprints and load it into the station."""
    station = ctx.station()
    db_ready(station)
    summary = station.synthesize_roll(voters, seed, faces_dir=faces, workers=workers)
    click.echo(json.dumps(summary, ensure_ascii=False))
    if not faces:
        click.echo("note: no --faces folder given: face fallback is off for this roll (no face references)", err=True)


def db_ready(station) -> None:
    from . import db

    if not db.has_schema(station.engine):
        raise StationError("the station is not initialised: run `station init` first")


@roll_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.option("--limit", type=click.IntRange(1), default=None)
@click.option("--polling-station", default=None)
@pass_ctx
@handle_errors
def roll_list(ctx: Context, as_json: bool, limit: int | None, polling_station: str | None) -> None:
    """List voters on the roll."""
    station = ctx.station()
    db_ready(station)
    for v in station.list_voters(limit=limit, polling_station=polling_station):
        if as_json:
            click.echo(json.dumps(v.to_dict(), ensure_ascii=False))
        else:
            click.echo(f"{v.polling_station} {v.serial_number:>5} {v.cnic} {v.gender:<6} {v.name_en} / {v.name_ur}")


@main.command()
@click.option("--profile", default=None, help="overrides the global --profile")
@click.option("--host", default=None)
@click.option("--port", type=click.IntRange(1, 65535), default=None)
@pass_ctx
@handle_errors
def serve(ctx: Context, profile: str | None, host: str | None, port: int | None) -> None:
    """Serve the API with waitress (a production WSGI server)."""
    if profile:
        ctx.profile = profile
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    station = ctx.station(**({"server": overrides} if overrides else {}))
    db_ready(station)
    station.cipher  # fail now, not on the first voter, if the key is missing
    run_server(station)


def run_server(station) -> None:
    import waitress

    from api import create_app

    from logging.handlers import RotatingFileHandler

    cfg = station.config.server
    logs = station.config.home / "logs"
    logs.mkdir(mode=0o700, exist_ok=True)
    handler = RotatingFileHandler(logs / "station.log", maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    click.echo(f"station {station.config.station.id} ({station.config.profile} profile) serving on http://{cfg.host}:{cfg.port}")
    waitress.serve(create_app(station), host=cfg.host, port=cfg.port, threads=cfg.threads,
                   max_request_body_size=max(cfg.max_body_bytes * 8, 16_000_000), ident="station")


@main.command()
@pass_ctx
@handle_errors
def doctor(ctx: Context) -> None:
    """Check the database, keys and match log; exit 0 when healthy."""
    checks = ctx.station().doctor()
    for name, ok, detail in checks:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if not all(ok for _, ok, _ in checks):
        sys.exit(1)


@main.command()
@click.option("--voters", type=click.IntRange(1, 5000), default=500, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--faces", type=click.Path(file_okay=False), default=None)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@pass_ctx
@handle_errors
def demo(ctx: Context, voters: int, seed: int, faces: str | None, host: str, port: int) -> None:
    """Initialise (if needed), load a synthetic roll and demo users (if empty), and serve."""
    from .demo import prepare_demo

    station = ctx.station(server={"host": host, "port": port})
    logins = prepare_demo(station, voters=voters, seed=seed, faces_dir=faces, echo=click.echo)
    click.echo(f"\nStation ready at http://{host}:{port}")
    click.echo("demo logins (simulated profile only):")
    for username, password, role in logins:
        click.echo(f"  {username:<10} {password:<20} {role}")
    run_server(station)


from .bench import bench  # noqa: E402  (registers the bench group)

main.add_command(bench)
