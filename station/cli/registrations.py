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
    click.echo(json.dumps(export_registrations(
        Path(recipient).read_bytes(), Path(out), transaction=station.transaction, cipher=station.cipher,
        signer=station.log_signer, keys_dir=station.config.keys_dir)))


@click.command("admit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--operator", default="commission", show_default=True)
@pass_ctx
@handle_errors
def admit(ctx: Context, file: str, operator: str) -> None:
    """Commission: add a centre's registrations to the master roll (held when the 1:N search finds a candidate)."""
    from station.packages.crypto import load_package_key
    from station.registration.dedup import SearchThresholds
    from station.registration.transfer import admit_registrations, commission_certificate

    station = ctx.station()
    db_ready(station)
    config = station.config
    result = admit_registrations(
        Path(file).read_bytes(), transaction=station.transaction, cipher=station.cipher,
        matcher=station.fingerprint_matcher, thresholds=SearchThresholds.from_config(config.enrollment),
        signer=station.log_signer, package_key=load_package_key(config.keys_dir),
        commission_cert=commission_certificate(config.audit, config.home), operator=operator)
    click.echo(json.dumps(result.to_dict()))
