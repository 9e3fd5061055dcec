"""``station init``, ``user add|disable|enable``, ``token revoke``, ``doctor`` and ``close-poll``: a station's life from
its first day to the close of poll."""
from __future__ import annotations

import sys

import click

from station.cli.common import Context, ExitCode, emit, handle_errors, operator_option, pass_ctx, read_line
from station.security.roles import ROLES


@click.command()
@pass_ctx
@handle_errors
def init(ctx: Context) -> None:
    """Create the data directory, the station keys (mode 0600) and the database schema; an empty key file (an older
    release's) is made again when nothing was made with its key, else refused (restore it from a backup)."""
    from station.security.empty_keys import remade
    from station.security.files import make_private

    station = ctx.station()
    done = station.init()
    make_private(_private_files(station.config))  # files of an older release may still be 0644
    home = station.config.home
    emit({"home": str(home), "key_created": done.created, "schema": "up to date",
          "repaired": [str(path) for path in done.repaired]},
         [f"station home {home}: key {'created' if done.created else 'already present'}, schema up to date",
          *(remade(path) for path in done.repaired)])


@click.group()
def user() -> None:
    """Station users."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, help=f"one of: {', '.join(ROLES)}")
@pass_ctx
@handle_errors
def user_add(ctx: Context, name: str, role: str) -> None:
    """Add a user; the password is read from standard input."""
    password = read_line("password")
    ctx.station().accounts.add_user(name, password, role)
    emit({"user": name, "role": role, "added": True}, f"user {name} ({role}) added")


@user.command("disable")
@click.argument("name")
@pass_ctx
@handle_errors
def user_disable(ctx: Context, name: str) -> None:
    """Disable a user: no more logins, and every token and browser session of theirs stops working at once."""
    revoked = ctx.station().accounts.disable_user(name)
    emit({"user": name, "disabled": True, "tokens_revoked": revoked}, f"user {name} disabled; {revoked} token(s) revoked")


@user.command("enable")
@click.argument("name")
@pass_ctx
@handle_errors
def user_enable(ctx: Context, name: str) -> None:
    """Let a disabled user log in again (their old tokens stay revoked)."""
    ctx.station().accounts.enable_user(name)
    emit({"user": name, "enabled": True}, f"user {name} enabled")


@click.group()
def token() -> None:
    """API tokens and browser sessions."""


@token.command("revoke")
@click.option("--user", "name", required=True, help="whose tokens and sessions to revoke")
@pass_ctx
@handle_errors
def token_revoke(ctx: Context, name: str) -> None:
    """Revoke every token of a user (API clients and browser sessions answer 401 at their next request); the user may
    log in again."""
    revoked = ctx.station().accounts.revoke_tokens(name)
    emit({"user": name, "tokens_revoked": revoked}, f"{revoked} token(s) of user {name} revoked")


def _private_files(config) -> list:
    """The station's own files that must be the station user's alone: the SQLite database and its WAL/SHM side files,
    the log files, the keys folder's files."""
    from sqlalchemy.engine import make_url

    paths = []
    url = make_url(config.database_url)  # the SQLite file in STATION_HOME unless database.url names another
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        from pathlib import Path

        db = Path(url.database)
        paths += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    for folder in (config.home / "logs", config.keys_dir):
        if folder.is_dir():
            paths += [folder, *(p for p in folder.iterdir() if p.is_file())]
    return paths


@click.command()
@pass_ctx
@handle_errors
def doctor(ctx: Context) -> None:
    """Check the database, keys and match log; exit 0 when healthy, 1 when a check fails."""
    checks = ctx.station(interrupted_ok=True).doctor()  # names an interrupted restore or import, not refused
    healthy = all(ok for _, ok, _ in checks)
    emit({"ok": healthy, "checks": [{"name": name, "ok": ok, "detail": detail} for name, ok, detail in checks]},
         [f"{'ok  ' if ok else 'FAIL'} {name}: {detail}" for name, ok, detail in checks])
    if not healthy:
        sys.exit(ExitCode.CHECK_FAILED)


@click.command("close-poll")
@operator_option("presiding", help="who closes the poll (written to the log)")
@pass_ctx
@handle_errors
def close_poll(ctx: Context, operator: str) -> None:
    """Close the poll: a last log entry and a signed seal over the whole log; no verification after it."""
    result = ctx.station().polling.close_poll(operator)
    emit(result)
    left = result["open_verifications"]
    if left:  # the close stands (it is final); the presiding officer's record says who was left without a ballot
        serials = ", ".join(str(o["serial"]) for o in left)
        click.echo(f"warning: {len(left)} voter(s) were still being verified or had no ballot when the poll closed "
                   f"(serial numbers {serials}): they cannot be given a ballot at this station", err=True)
