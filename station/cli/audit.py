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


def commission_cert_pem(option: str | None, config_home: str | None = None) -> bytes | None:
    """The VERIFIER's commission certificate: ``--commission-cert FILE``, else ``audit.commission_certificate`` of
    the configuration (relative to STATION_HOME), else the home's keys/commission.crt, else None. Never one found
    in the file being checked."""
    path = option
    if not path:
        try:
            from station.config import load_config

            config = load_config(None, home=config_home)
        except Exception:  # noqa: BLE001  (verify runs with no configuration at all: then there is no default)
            return None
        from station.audit.bundle import held_commission_certificate

        held = held_commission_certificate(config)
        if held is None:
            return None
        path = str(held)
    try:
        with open(path, "rb") as fh:
            pem = fh.read()
    except OSError as exc:
        fail(f"commission certificate {path}: {exc.strerror or exc}")
    from station.audit.bundle import BundleError, load_commission_pem
    from station.audit.identity import commission_anchor_problem

    try:
        problem = commission_anchor_problem(load_commission_pem(pem, f"commission certificate {path}"))
    except BundleError as exc:
        fail(str(exc))
    if problem:
        fail(f"{path}: {problem}")
    return pem


commission_cert_option = click.option(
    "--commission-cert", type=click.Path(dir_okay=False), default=None,
    help="the commission's certificate that must have issued the station certificate (default: "
         "audit.commission_certificate); a certificate inside the bundle is never trusted")
self_signed_ok_option = click.option(
    "--self-signed-ok", is_flag=True,
    help="demos only: with no commission certificate, accept an intact chain whose signer is not authenticated")


def _verified(bundle_path: str, commission_cert: str | None, home: str | None = None):
    from station.audit.bundle import BundleError, verify_bundle

    pem = commission_cert_pem(commission_cert, home)
    try:
        return verify_bundle(bundle_path, commission_cert_pem=pem)
    except (BundleError, OSError, ValueError) as exc:
        fail(str(exc))


@audit.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False))
@commission_cert_option
@self_signed_ok_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit_verify(click_ctx: click.Context, bundle: str, commission_cert: str | None, self_signed_ok: bool,
                 as_json: bool) -> None:
    """Verify a bundle with nothing else (no database); exit 0 only if the whole chain holds and the station
    certificate is issued by the commission certificate you hold (or, with --self-signed-ok, the chain holds)."""
    result = _verified(bundle, commission_cert, _home(click_ctx))
    accepted = result.accepted(self_signed_ok)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "accepted": accepted}))
        if not accepted and result.ok:
            click.echo(f"error: {result.signer_status()}", err=True)
    else:
        click.echo(f"station {result.station}: {result.entries} entries, "
                   f"{'sealed' if result.sealed else 'not sealed'}: "
                   f"{'CHAIN HOLDS' if result.ok else f'BROKEN from entry {result.first_broken_seq}'}; "
                   f"{result.signer_status()}")
        for b in result.breaks:
            click.echo(f"  break{'' if b.seq is None else f' at entry {b.seq}'}: {b.message}")
        for w in result.warnings:
            if w != result.signer_status():  # already said on the first line
                click.echo(f"  warning: {w}")
    sys.exit(0 if accepted else 1)


def _home(click_ctx: click.Context) -> str | None:
    obj = click_ctx.find_object(Context)
    return obj.home if obj is not None else None


@audit.command("report")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@click.option("--polling-hours", default="08:00-17:00", show_default=True)
@click.option("--timezone", default="Asia/Karachi", show_default=True)
@click.option("--min-seconds", type=float, default=20.0, show_default=True, help="faster identify-to-ballot is flagged")
@commission_cert_option
@self_signed_ok_option
@click.pass_context
def audit_report(click_ctx: click.Context, bundle: str, out: str, polling_hours: str, timezone: str,
                 min_seconds: float, commission_cert: str | None, self_signed_ok: bool) -> None:
    """The auditor's HTML report (self-contained) from a bundle whose signer is certified by the commission (or,
    with --self-signed-ok, any signer: the report then says it is not authenticated)."""
    from station.audit.report import ReportSettings, analyse, render_html

    result = _verified(bundle, commission_cert, _home(click_ctx))
    if result.countersigned is False or (result.countersigned is None and not self_signed_ok):
        problem = next((b.message for b in result.breaks if b.kind == "certificate"), result.signer_status())
        fail(f"{bundle}: {problem}: no report written", 1)
    try:
        findings = analyse(result.bodies, result.station, ReportSettings(timezone, polling_hours, min_seconds))
    except (ValueError, KeyError) as exc:
        fail(f"cannot analyse the bundle: {exc}")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(render_html(findings, result.to_dict()))
    click.echo(json.dumps({"out": out, "chain_ok": result.ok, "authenticated": result.authenticated,
                           "anomalies": len(findings.anomalies)}))


@audit.command("merge")
@click.argument("bundles", nargs=-1, required=True, type=click.Path(dir_okay=False))
@commission_cert_option
@self_signed_ok_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit_merge(click_ctx: click.Context, bundles: tuple[str, ...], commission_cert: str | None,
                self_signed_ok: bool, as_json: bool) -> None:
    """Verify several stations' bundles (each signer against the commission certificate) and report voters given a
    ballot at more than one station; only accepted bundles are counted."""
    from station.audit.merge import merge_bundles

    pem = commission_cert_pem(commission_cert, _home(click_ctx))
    result = merge_bundles(list(bundles), commission_cert_pem=pem, self_signed_ok=self_signed_ok)
    if as_json:
        click.echo(json.dumps(result))
    else:
        for b in result["bundles"]:
            click.echo(f"{b['path']}: station {b.get('station')} {'ok' if b['ok'] else 'BROKEN'} "
                       f"{'; '.join(b.get('breaks', [])) or b.get('error', '')}")
            if b["ok"] and not b.get("authenticated"):
                click.echo(f"  note: {b['signer']}")
        click.echo(f"{result['voters_with_ballots']} voters with ballots; {len(result['double_votes'])} at more than one station")
        for d in result["double_votes"]:
            click.echo(f"  voter {d['voter']}: " + ", ".join(f"{w['station']} entry {w['seq']}" for w in d["ballots"]))
    sys.exit(0 if result["ok"] else 1)
