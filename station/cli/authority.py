"""``station authority``: the link to the national ID authority.

    station authority simulate --port 8443 --state-dir DIR [--admin-port P] [--synthetic-seed N] [--latency S]
    station authority setup --from-simulator DIR --url https://127.0.0.1:8443   # demo: link this station to it
    station authority check CNIC [--json]        # ask now (logged); queued when the link is down
    station authority flush [--limit N] [--json] # send queued checks; exit 0 when none is left, 1 otherwise
    station authority queue [--json]             # what is queued
    station authority roll-updates [--json]      # fetch and import the roll packages the authority offers

Before ``station authority`` is registered in station/cli.py the same commands run as
``python -m station.authority COMMAND ...``.
"""
from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
from pathlib import Path

import click

from station.cli.common import Context, ExitCode, db_ready, emit, handle_errors, json_option, pass_ctx


@click.group("authority")
def authority() -> None:
    """The link to the national ID authority: checks, their queue, and a simulated authority."""


def _checks(ctx: Context):
    """The station and its ID-authority checks (the service the composition root builds)."""
    station = ctx.station()
    db_ready(station)
    return station, station.authority


@authority.command("simulate")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="HTTPS (mutual TLS) port on 127.0.0.1; 0 = any free port")
@click.option("--admin-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="plain-HTTP steering port on 127.0.0.1; 0 = any free port")
@click.option("--state-dir", required=True, type=click.Path(file_okay=False),
              help="CA, certificates, signing key (created on first run) and records.json")
@click.option("--default-status", type=click.Choice(["valid", "expired", "blocked", "deceased", "unknown"]),
              default="valid", show_default=True, help="status of a CNIC without a record")
@click.option("--synthetic-seed", type=int, default=None,
              help="seed of the station's synthetic roll: fingerprint references from its synthetic fingers")
@click.option("--finger-cache", type=click.Path(file_okay=False), default=None,
              help="cache of synthetic finger masters (e.g. STATION_HOME/sim/fingers)")
@click.option("--latency", type=click.FloatRange(0, 600), default=0.0, show_default=True, help="seconds per answer")
@handle_errors
def simulate(port: int, admin_port: int, state_dir: str, default_status: str, synthetic_seed: int | None,
             finger_cache: str | None, latency: float) -> None:
    """Run the simulated ID authority until interrupted; prints one JSON line with its URLs and files."""
    from station.simulation.authority import AuthoritySimulator

    sim = AuthoritySimulator(state_dir, port=port, admin_port=admin_port, default_status=default_status,
                             synthetic_seed=synthetic_seed, finger_cache=finger_cache, latency_s=latency)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    try:
        f = sim.files
        click.echo(json.dumps({"url": sim.url, "admin_url": sim.admin_url, "ca_cert": str(f.ca_cert),
                               "client_cert": str(f.client_cert), "client_key": str(f.client_key),
                               "authority_public_key": str(f.authority_public_key)}))
        sys.stdout.flush()
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        sim.stop()
        signal.signal(signal.SIGTERM, previous)


@authority.command("setup")
@click.option("--from-simulator", "state_dir", required=True, type=click.Path(file_okay=False, exists=True),
              help="the simulator's state directory (its CA, the station's client certificate, its public key)")
@click.option("--url", required=True, help="the simulator's https:// URL (printed by `station authority simulate`)")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 60), default=3.0, show_default=True)
@pass_ctx
@handle_errors
def setup(ctx: Context, state_dir: str, url: str, timeout_s: float) -> None:
    """Demo: link this station to a simulated authority (copies its files into STATION_HOME/keys/authority, mode
    0600, and writes [authority] in STATION_HOME/station.toml)."""
    from station.simulation.authority_link import link_to_simulator
    from station.simulation.authority import PUBLIC_KEY_FILE

    path = link_to_simulator(ctx.config().home, Path(state_dir), url, public_key_file=PUBLIC_KEY_FILE,
                             timeout_s=timeout_s)
    emit({"written": str(path), "backend": "http", "url": url}, f"[authority] written to {path}: backend http, {url}")


@authority.command("check")
@click.argument("cnic")
@json_option
@pass_ctx
@handle_errors
def check(ctx: Context, cnic: str, as_json: bool) -> None:
    """Ask the authority for a CNIC's status now (logged; queued when the link is down). Exit 1 if not answered."""
    from station.authority.errors import AuthorityNotConfigured
    from station.cnic import parse_cnic

    station, checks = _checks(ctx)
    try:
        if not checks.enabled:
            raise AuthorityNotConfigured('no ID-authority link is configured (authority.backend = "none")')
        outcome = checks.check("cnic_status", session_id=None, cnic=parse_cnic(cnic), operator="cli")
    finally:
        checks.close()
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(outcome)))
    elif outcome.outcome == "answered":
        click.echo(f"{cnic}: {outcome.result} (log entry {outcome.log_seq})")
    else:
        click.echo(f"{cnic}: not answered, {outcome.outcome}: {outcome.reason}")
    sys.exit(ExitCode.DONE if outcome.outcome == "answered" else ExitCode.CHECK_FAILED)


@authority.command("flush")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@json_option
@pass_ctx
@handle_errors
def flush(ctx: Context, limit: int, as_json: bool) -> None:
    """Send the queued checks to the authority; answers go to the match log. Exit 1 while some are still queued."""
    station, checks = _checks(ctx)
    try:
        report = checks.flush(limit)
    finally:
        checks.close()
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(f"sent {report.sent}: {report.answered} answered, {report.refused} refused, {report.errors} errors; "
                   f"{report.pending} still queued" + (f" (stopped: {report.stopped})" if report.stopped else ""))
    sys.exit(ExitCode.DONE if report.pending == 0 else ExitCode.CHECK_FAILED)


@authority.command("roll-updates")
@json_option
@pass_ctx
@handle_errors
def roll_updates(ctx: Context, as_json: bool) -> None:
    """Fetch the roll packages the authority offers this station and import them (the checks of `roll import`).
    Exit 1 when a package was rejected."""
    station, checks = _checks(ctx)
    try:
        report = checks.fetch_roll_updates(operator="cli")
    finally:
        checks.close()
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(f"{report.offered} packages offered, {len(report.applied)} applied; roll version {report.version}"
                   + "".join(f"; rejected {r['package_id']}: {r['message']}" for r in report.rejected))
    sys.exit(ExitCode.CHECK_FAILED if report.rejected else ExitCode.DONE)


@authority.command("queue")
@json_option
@pass_ctx
@handle_errors
def queue(ctx: Context, as_json: bool) -> None:
    """What is queued for the authority."""
    from station.authority.checks import queue_summary

    station = ctx.station()
    db_ready(station)
    with station.transaction() as s:
        summary = queue_summary(s)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"{summary['pending']} queued (oldest {summary['oldest_pending'] or '-'}), "
                   f"{summary['answered']} answered, {summary['failed']} failed")


def main() -> None:
    """``python -m station.authority ...``: the commands with the global --profile/--home options."""

    @click.group()
    @click.option("--profile", envvar="STATION_PROFILE", default=None)
    @click.option("--home", envvar="STATION_HOME", default=None)
    @click.pass_context
    def root(c: click.Context, profile: str | None, home: str | None) -> None:
        c.obj = Context(profile, home)

    for command in authority.commands.values():
        root.add_command(command)
    root(prog_name="python -m station.authority")
