"""The ``station`` command. Errors a user can cause print one line on standard error and exit 2; never a traceback."""
from __future__ import annotations

import json
import logging
import sys

import click

from station.cli.common import Context, db_ready, fail, handle_errors, pass_ctx
from station.errors import StationError

log = logging.getLogger("station")


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
    ctx.station().accounts.add_user(name, password, role)
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
    for v in station.roll.list_voters(limit=limit, polling_station=polling_station):
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
    """Serve the API and the registrar UI (cheroot): HTTPS from the station CA on a LAN address, plain HTTP only on
    127.0.0.1/::1."""
    if profile:
        ctx.profile = profile
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    station = ctx.station(**({"server": overrides} if overrides else {}))
    db_ready(station)
    station.cipher  # fail now, not on the first voter, if the key is missing
    station.authority.start_flusher()  # sends queued ID-authority checks while serving (no-op without a link)
    run_server(station)


def run_server(station) -> None:
    from api import create_app

    from station.backup.schedule import BackupScheduler
    from station.service.serving import serve_app

    scheduler = BackupScheduler(config=station.config, engine=station.engine, transaction=station.transaction,
                                signer=station.log_signer)
    scheduler.start()  # no-op unless backup.dir is set and backup.interval_minutes > 0
    try:
        serve_app(station.config, create_app(station), announce=click.echo)
    finally:
        scheduler.stop()


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
    from station.simulation.demo import prepare_demo

    station = ctx.station(server={"host": host, "port": port})
    logins = prepare_demo(station, voters=voters, seed=seed, faces_dir=faces, echo=click.echo)
    click.echo(f"\nStation ready at http://{host}:{port}")
    click.echo("demo logins (simulated profile only):")
    for username, password, role in logins:
        click.echo(f"  {username:<10} {password:<20} {role}")
    run_server(station)


@main.group()
def card() -> None:
    """CNIC smart cards: virtual cards for tests and demos, the emulator, reading through PC/SC."""


@card.command("issue")
@click.option("--cnic", required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True)
@click.option("--tamper", type=click.Choice(["bad-signature", "altered-file", "clone"]), default=None)
@pass_ctx
@handle_errors
def card_issue(ctx: Context, cnic: str, out: str, tamper: str | None) -> None:
    """Write a virtual card for a voter of the roll, signed by the test issuing authority."""
    station = ctx.station()
    db_ready(station)
    data = station.steering.voter_card(cnic, tamper)
    with open(out, "wb") as fh:
        fh.write(data)
    click.echo(f"virtual card for {cnic}{f' (tampered: {tamper})' if tamper else ''} written to {out}")


@card.command("emulate")
@click.option("--card", "card_file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=35963, show_default=True)
@handle_errors
def card_emulate(card_file: str, host: str, port: int) -> None:
    """Present a virtual card to pcscd through vsmartcard-vpcd until interrupted (test and demo machines only:
    vpcd accepts cards from the network and must never be installed on a production station)."""
    import signal
    import threading

    from drivers.card.emulator import run_emulator
    from drivers.card.virtual import VirtualCardFile

    data = open(card_file, "rb").read()
    try:
        VirtualCardFile.from_bytes(data)
    except ValueError as exc:
        raise StationError(f"{card_file}: not a virtual card file ({exc})") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"card {card_file} joining vpcd at {host}:{port}; Ctrl-C to remove it", err=True)
    try:
        run_emulator(data, host, port, stop)
    except KeyboardInterrupt:
        stop.set()


@card.command("read")
@click.option("--json", "as_json", is_flag=True)
@click.option("--reader", default=None, help="PC/SC reader name (default: the first holding a card)")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 120), default=None)
@pass_ctx
@handle_errors
def card_read(ctx: Context, as_json: bool, reader: str | None, timeout_s: float | None) -> None:
    """Read and verify the card in the first PC/SC reader. Exit 1 with the reason on standard error if any check
    fails."""

    overrides = {"devices": {"card": "pcsc", **({"card_reader": reader} if reader else {})}}
    if timeout_s:
        overrides["card"] = {"read_timeout_s": timeout_s}
    station = ctx.station(**overrides)
    report, error = station.technician.card_report()
    click.echo(json.dumps(report, ensure_ascii=False) if as_json else
               "\n".join(f"{k}: {v}" for k, v in report.items()))
    if error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


@main.group()
def devices() -> None:
    """Technician tools for the configured devices."""


@devices.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def devices_list(ctx: Context, as_json: bool) -> None:
    """Every configured device with backend, status and serial; a missing library or device is reported, not fatal."""

    rows = ctx.station().technician.list_devices()
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(f"{row['kind']:<12} {row['backend']:<10} {row['status']:<13} {row.get('serial') or ''} {row.get('error') or ''}")


@devices.command("test")
@click.argument("kind", type=click.Choice(["fingerprint", "camera", "card"]))
@click.option("--captures", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--inject", "fault", default=None, help="simulated devices: queue this fault first (not_ready, busy, timeout, disconnect)")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def devices_test(ctx: Context, kind: str, captures: int, fault: str | None, as_json: bool) -> None:
    """Open a device, capture a few times, report timings and quality."""

    report = ctx.station().technician.test_device(kind, captures=captures, fault=fault)
    click.echo(json.dumps(report, indent=None if as_json else 2))
    if report["failures"] == report["captures"]:
        sys.exit(1)


@devices.command("capture")
@click.argument("kind", type=click.Choice(["fingerprint", "camera"]))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG file")
@pass_ctx
@handle_errors
def devices_capture(ctx: Context, kind: str, out: str) -> None:
    """Capture one image to a PNG file (a technician's check of a real device)."""

    click.echo(json.dumps(ctx.station().technician.capture_to_file(kind, out)))


@main.command("close-poll")
@click.option("--operator", default="presiding", show_default=True, help="who closes the poll (written to the log)")
@pass_ctx
@handle_errors
def close_poll(ctx: Context, operator: str) -> None:
    """Close the poll: a last log entry and a signed seal over the whole log; no verification after it."""
    click.echo(json.dumps(ctx.station().polling.close_poll(operator)))


@main.group()
def audit() -> None:
    """The tamper-evident match log: export, verify (offline), report, merge."""


@audit.command("export")
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@pass_ctx
@handle_errors
def audit_export(ctx: Context, out: str) -> None:
    """Write a self-contained audit bundle (log, station certificate, roll digest, checkpoints, seal)."""
    station = ctx.station()
    db_ready(station)
    click.echo(json.dumps(station.audit.export(out)))


def _verified(bundle_path: str, commission_cert: str | None):
    from station.audit.bundle import BundleError, verify_bundle

    try:
        pem = open(commission_cert, "rb").read() if commission_cert else None
        return verify_bundle(bundle_path, commission_cert_pem=pem)
    except (BundleError, OSError, ValueError) as exc:
        fail(str(exc))


@audit.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--commission-cert", type=click.Path(dir_okay=False), default=None,
              help="require the station certificate to be signed by this commission certificate")
@click.option("--json", "as_json", is_flag=True)
def audit_verify(bundle: str, commission_cert: str | None, as_json: bool) -> None:
    """Verify a bundle with nothing else (no database, no configuration); exit 0 only if the whole chain holds."""
    result = _verified(bundle, commission_cert)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(f"station {result.station}: {result.entries} entries, "
                   f"{'sealed' if result.sealed else 'not sealed'}: "
                   f"{'CHAIN HOLDS' if result.ok else f'BROKEN from entry {result.first_broken_seq}'}")
        for b in result.breaks:
            click.echo(f"  break{'' if b.seq is None else f' at entry {b.seq}'}: {b.message}")
        for w in result.warnings:
            click.echo(f"  warning: {w}")
    sys.exit(0 if result.ok else 1)


@audit.command("report")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@click.option("--polling-hours", default="08:00-17:00", show_default=True)
@click.option("--timezone", default="Asia/Karachi", show_default=True)
@click.option("--min-seconds", type=float, default=20.0, show_default=True, help="faster identify-to-ballot is flagged")
def audit_report(bundle: str, out: str, polling_hours: str, timezone: str, min_seconds: float) -> None:
    """The auditor's HTML report (self-contained) from a bundle."""
    from station.audit.report import ReportSettings, analyse, render_html

    result = _verified(bundle, None)
    try:
        findings = analyse(result.bodies, result.station, ReportSettings(timezone, polling_hours, min_seconds))
    except (ValueError, KeyError) as exc:
        fail(f"cannot analyse the bundle: {exc}")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(render_html(findings, result.to_dict()))
    click.echo(json.dumps({"out": out, "chain_ok": result.ok, "anomalies": len(findings.anomalies)}))


@audit.command("merge")
@click.argument("bundles", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def audit_merge(bundles: tuple[str, ...], as_json: bool) -> None:
    """Verify several stations' bundles and report voters given a ballot at more than one station."""
    from station.audit.merge import merge_bundles

    result = merge_bundles(list(bundles))
    if as_json:
        click.echo(json.dumps(result))
    else:
        for b in result["bundles"]:
            click.echo(f"{b['path']}: station {b.get('station')} {'ok' if b['ok'] else 'BROKEN'} "
                       f"{'; '.join(b.get('breaks', [])) or b.get('error', '')}")
        click.echo(f"{result['voters_with_ballots']} voters with ballots; {len(result['double_votes'])} at more than one station")
        for d in result["double_votes"]:
            click.echo(f"  voter {d['voter']}: " + ", ".join(f"{w['station']} entry {w['seq']}" for w in d["ballots"]))
    sys.exit(0 if result["ok"] else 1)


from station.cli.bench import bench, calibrate  # noqa: E402

main.add_command(bench)
main.add_command(calibrate)

from station.cli import authority as cli_authority
from station.cli import backup as cli_backup
from station.cli import registrations as cli_registrations
from station.cli import roll as cli_roll
from station.cli import service as cli_service
from station.cli import sync as cli_sync  # noqa: E402

cli_roll.register(roll_group)
roll_group.add_command(cli_registrations.admit)
main.add_command(cli_registrations.registrations)
main.add_command(cli_sync.sync)
main.add_command(cli_sync.central)
main.add_command(cli_backup.backup)
main.add_command(cli_authority.authority)
main.add_command(cli_service.install)
main.add_command(cli_service.uninstall)
main.add_command(cli_service.tls_group)
