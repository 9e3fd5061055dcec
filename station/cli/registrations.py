"""``station registrations export`` (a registration centre's new voters, for the commission) and
``station roll admit`` (the commission adds them to the master roll after its own 1:N search)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from station.cli.common import Context, db_ready, handle_errors, pass_ctx


@click.group()
def registrations() -> None:
    """Registrations made at this centre."""


@registrations.command("export")
@click.option("--recipient", "recipient", type=click.Path(exists=True, dir_okay=False), required=True,
              help="the commission's package public key (`station roll station-key` on the commission's machine)")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True)
@pass_ctx
@handle_errors
def export(ctx: Context, recipient: str, out: str) -> None:
    """Write the registered (pending) voters, encrypted for the commission and signed by this station."""
    from station.registration.transfer import export_registrations

    station = ctx.station()
    db_ready(station)
    click.echo(json.dumps(export_registrations(station, Path(recipient).read_bytes(), Path(out))))


@click.command("admit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--operator", default="commission", show_default=True)
@pass_ctx
@handle_errors
def admit(ctx: Context, file: str, operator: str) -> None:
    """Commission: add a centre's registrations to the master roll (held when the 1:N search finds a candidate)."""
    from station.registration.transfer import admit_registrations

    station = ctx.station()
    db_ready(station)
    click.echo(json.dumps(admit_registrations(station, Path(file).read_bytes(), operator=operator).to_dict()))
