"""``station registrations export``: a registration centre's new voters, encrypted for the commission and signed
(the commission admits them with ``station roll admit``, in ``station.cli.roll``)."""
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
    click.echo(json.dumps(export_registrations(
        Path(recipient).read_bytes(), Path(out), transaction=station.transaction, cipher=station.cipher,
        signer=station.log_signer, keys_dir=station.config.keys_dir)))
