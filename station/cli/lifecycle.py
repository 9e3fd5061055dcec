"""``station init``, ``user add``, ``doctor`` and ``close-poll``: a station's life from its first day to the close of poll."""
from __future__ import annotations

import json
import sys

import click

from station.cli.common import Context, handle_errors, pass_ctx


@click.command()
@pass_ctx
@handle_errors
def init(ctx: Context) -> None:
    """Create the data directory, the station key (mode 0600) and the database schema."""
    station = ctx.station()
    created = station.init()
    click.echo(f"station home {station.config.home}: key {'created' if created else 'already present'}, schema up to date")


@click.group()
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
    ctx.station().accounts.add_user(name, password, role)
    click.echo(f"user {name} ({role}) added")


@click.command()
@pass_ctx
@handle_errors
def doctor(ctx: Context) -> None:
    """Check the database, keys and match log; exit 0 when healthy."""
    checks = ctx.station().doctor()
    for name, ok, detail in checks:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if not all(ok for _, ok, _ in checks):
        sys.exit(1)


@click.command("close-poll")
@click.option("--operator", default="presiding", show_default=True, help="who closes the poll (written to the log)")
@pass_ctx
@handle_errors
def close_poll(ctx: Context, operator: str) -> None:
    """Close the poll: a last log entry and a signed seal over the whole log; no verification after it."""
    click.echo(json.dumps(ctx.station().polling.close_poll(operator)))
