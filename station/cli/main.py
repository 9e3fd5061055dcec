"""The ``station`` command, assembled here and only here. Errors print one line on standard error with a documented
exit code, never a traceback (station/cli/common.py, docs/cli.md); every command takes ``--json``."""
from __future__ import annotations

import json
import logging
import os
import sys

import click

from station.cli import (
    audit,
    authority,
    backup,
    bench,
    card,
    devices,
    identity,
    keys,
    lifecycle,
    registrations,
    roll,
    service,
    sync,
)
from station.cli.common import (
    Context,
    StationGroup,
    add_json_option,
    add_output_check,
    db_ready,
    handle_errors,
    pass_ctx,
    say,
)
from station.errors import StationError
from station.security import keystore
from station.security.files import PRIVATE_UMASK

log = logging.getLogger("station")
# Commands that lay out files other users must read (systemd units, /opt/station): they set each mode themselves.
SHARED_OUTPUT_COMMANDS = ("install", "uninstall")
# Commands that run until stopped: a banner for a person, or with --json one JSON document saying where they answer
# once they do (scripts read its one line, then leave them running).
RUN_UNTIL_STOPPED = ("serve", "demo", "emulate")


@click.group(cls=StationGroup)
@click.version_option(package_name="voter-station", prog_name="station", message="%(prog)s %(version)s")
@click.option("--profile", envvar="STATION_PROFILE", default=None, help="simulated (default), hardware or test")
@click.option("--home", envvar="STATION_HOME", default=None, help="data directory (default ./station-home)")
@click.option("-v", "--verbose", is_flag=True, help="log more")
@click.pass_context
def main(ctx: click.Context, profile: str | None, home: str | None, verbose: bool) -> None:
    """Biometric voter verification station."""
    if ctx.invoked_subcommand not in SHARED_OUTPUT_COMMANDS:
        # Everything the station writes (database and its -wal/-shm, logs, keys, simulated images) is its user's
        # alone: 0600 files, 0700 folders. Restored when the command ends (matters only in-process, e.g. tests).
        previous = os.umask(PRIVATE_UMASK)
        ctx.call_on_close(lambda: os.umask(previous))
    keystore.ask_passphrase_with(keys.terminal_passphrase)  # a sealed key: ask on the terminal (run_server: never)
    ctx.call_on_close(lambda: keystore.ask_passphrase_with(None))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(profile, home)


@main.command()
@click.option("--profile", default=None, help="overrides the global --profile")
@click.option("--host", default=None)
@click.option("--port", type=click.IntRange(1, 65535), default=None)
@click.option("--json", "as_json", is_flag=True,
              help="once the server answers, print one JSON document on standard output (url, pid, home, profile, "
                   "...); the banner goes to standard error")
@pass_ctx
@handle_errors
def serve(ctx: Context, profile: str | None, host: str | None, port: int | None, as_json: bool) -> None:
    """Serve the API and the registrar UI (cheroot): HTTPS from the station CA on a LAN address, plain HTTP only on
    127.0.0.1/::1."""
    if profile:
        ctx.profile = profile
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    station = ctx.station(**({"server": overrides} if overrides else {}))
    db_ready(station)
    run_server(station, ready={} if as_json else None)


def run_server(station, *, ready: dict | None = None) -> None:
    """Serve the app. The background work that signs or decrypts starts once the keys are usable: at once (plain,
    systemd-creds), or when the presiding officer unlocks them (passphrase: api/routes/keys.py).

    Without ``ready`` the banner goes to standard output. With it (--json) the banner goes to standard error, and
    standard output gets one JSON document, flushed, once the server listens: ``ready`` plus where it answers."""
    from api import create_app
    from station.service.serving import serve_app

    keystore.ask_passphrase_with(None)  # the server never prompts: it waits for the unlock
    problem = station.keys.serving_problem()
    if problem:
        raise StationError(f"refusing to serve: {problem}")
    running: list = []
    station.keys.when_unlocked(lambda: running.extend(_start_background(station)))
    pending = [station.keys.announcement()]

    banner = click.echo if ready is None else say

    def announce(line: str) -> None:  # the banner first (scripts wait for it), then how the keys are kept
        banner(line)
        while pending:
            banner(pending.pop())

    try:
        serve_app(station.config, create_app(station), announce=announce,
                  listening=None if ready is None else lambda url: _print_ready(station, url, ready))
    finally:
        for worker in reversed(running):
            worker.stop()


def _print_ready(station, url: str | None, extra: dict) -> dict:
    """The one JSON document of ``serve --json`` / ``demo --json``: where the server answers and what it serves."""
    config = station.config
    document = {"url": url, "pid": os.getpid(), "station": config.station.id, "profile": config.profile,
                "home": str(config.home), "keys": station.keys.store.protection,
                "keys_locked": station.keys.store.locked}
    if url and url.startswith("https:"):
        from station.security import tls

        document["ca_sha256"] = tls.ca_info(config.keys_dir).sha256
    document.update(extra)
    click.echo(json.dumps(document, ensure_ascii=False))
    sys.stdout.flush()
    return document


def _start_background(station) -> list:
    """The server's background work, which needs the keys; returns what to stop when the server ends."""
    from station.audit.schedule import CheckpointScheduler
    from station.backup.schedule import BackupScheduler

    station.cipher  # fail now, not on the first voter, if the key is missing
    station.recover()  # what a kill or a power cut left undone: a seal, checkpoint files, tree notes (each logged)
    station.authority.start_flusher()  # sends queued ID-authority checks while serving (no-op without a link)
    scheduler = BackupScheduler(config=station.config, engine=station.engine, transaction=station.transaction,
                                signer=station.log_signer)
    scheduler.start()  # no-op unless backup.dir is set and backup.interval_minutes > 0
    checkpoints = CheckpointScheduler(station.transparency)
    checkpoints.start()  # the opening checkpoint when due, then one every audit.checkpoint_interval_minutes
    station.power.start()  # reads the battery now, then every power.poll_seconds (backup + checkpoint on battery)
    warm_up = station.warm_up()  # the fingerprint model and the duplicate-search index, in the background
    return [scheduler, checkpoints, station.power, _JoinOnStop(warm_up, seconds=20)]


class _JoinOnStop:
    """Waits for a background thread when the server stops: a process that exits while the warm-up thread is still
    loading the ONNX model aborts in C++ ("terminate called without an active exception", exit -6, a core dump
    under systemd) instead of stopping cleanly on SIGTERM."""

    def __init__(self, thread, *, seconds: float) -> None:
        self.thread, self.seconds = thread, seconds

    def stop(self) -> None:
        self.thread.join(self.seconds)


@main.command()
@click.option("--voters", type=click.IntRange(1, 5000), default=500, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--faces", type=click.Path(file_okay=False), default=None)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--json", "as_json", is_flag=True,
              help="once the server answers, print one JSON document on standard output (url, pid, home, profile, "
                   "the demo logins, ...); every message goes to standard error")
@pass_ctx
@handle_errors
def demo(ctx: Context, voters: int, seed: int, faces: str | None, host: str, port: int, as_json: bool) -> None:
    """Initialise (if needed), load a synthetic roll and demo users (if empty), and serve."""
    from station.simulation.demo import prepare_demo

    echo = say if as_json else click.echo
    station = ctx.station(server={"host": host, "port": port})
    logins = prepare_demo(station, voters=voters, seed=seed, faces_dir=faces, echo=echo)
    echo(f"\nStation ready at http://{host}:{port}")
    echo("demo logins (simulated profile only):")
    for username, password, role in logins:
        echo(f"  {username:<10} {password:<20} {role}")
    run_server(station, ready={"logins": [{"username": username, "password": password, "role": role}
                                          for username, password, role in logins]} if as_json else None)


# Every command group of ``station``, assembled here and only here.
for _command in (lifecycle.init, lifecycle.user, lifecycle.token, lifecycle.doctor, lifecycle.close_poll, serve, demo,
                 roll.roll_group, card.card, devices.devices, audit.audit, registrations.registrations, sync.sync,
                 sync.central, backup.backup, identity.identity, authority.authority, service.install, service.uninstall,
                 service.tls_group, keys.keys_group, bench.bench, bench.calibrate):
    main.add_command(_command)


def _commands(group: click.Group):
    for command in group.commands.values():
        if isinstance(command, click.Group):
            yield from _commands(command)
        else:
            yield command


for _command in _commands(main):
    add_json_option(_command)
    add_output_check(_command)
