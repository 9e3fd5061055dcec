"""``station audit export|verify|report|merge``: the tamper-evident match log, exported and checked offline."""
from __future__ import annotations

import json
import sys

import click

from station.cli.common import Context, db_ready, fail, handle_errors, pass_ctx


@click.group()
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
