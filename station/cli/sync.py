"""``station sync export`` (a station's results as one signed file) and ``station central merge`` (many stations'
files into the commission's central database). See docs/sync-and-central.md."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from station.cli import trust
from station.cli.common import Context, db_ready, handle_errors, operator_option, pass_ctx
from station.errors import InvalidInput


@click.group()
def sync() -> None:
    """Results of this station for the commission."""


@sync.command("export")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="the file to write (mode 0600)")
@pass_ctx
@handle_errors
def sync_export(ctx: Context, out: str) -> None:
    """Write this station's results (verification sessions, ballots, registrations, polling scheme, the audit
    bundle) as one file signed with the station's log key. Prints a JSON summary."""
    from station.central.results_export import export_results

    station = ctx.station()
    db_ready(station)
    result = export_results(Path(out), config=station.config, transaction=station.transaction,
                            signer=station.log_signer)
    click.echo(json.dumps(result.to_dict()))
    if not result.audit_chain_ok:
        click.echo("warning: this station's audit log does not verify (run `station audit verify` on an export): "
                   "the centre will refuse the file", err=True)
        sys.exit(1)


@click.group()
def central() -> None:
    """The commission's central results database."""


def _commission_pem(ctx: Context, option: str | None, self_signed_ok: bool = False) -> bytes | None:
    """The centre's own commission certificate (station/cli/trust.py); without one, refused unless --self-signed-ok."""
    return trust.anchor_or_self_signed(trust.held_commission_pem(option, ctx.config()), self_signed_ok)


commission_cert_option = trust.commission_cert_option("every station file")
crl_option = trust.crl_option("every station file")
self_signed_ok_option = trust.self_signed_ok_option("files")
register_option = click.option(
    "--register", "register_file", type=click.Path(dir_okay=False), default=None,
    help="the commission's register of stations (`station roll stations --json` at the commission): a file counts "
         "only for the polling station its station is registered at (default: the home's own register, when the "
         "home is the commission's)")


def _register(ctx: Context, option: str | None):
    """The commission's register of stations the verifier holds (station/central/register.py), or None."""
    from station.central.register import held_register

    return held_register(option, ctx.config())


def _expected_codes(path: str | None) -> list[str]:
    """Station ids or polling station codes, whitespace-separated, one or more a line; '#' starts a comment."""
    if not path:
        return []
    codes = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not a text file of station ids or polling station codes") from None
    for line in text.splitlines():
        codes += line.split("#", 1)[0].split()
    return list(dict.fromkeys(codes))


def _require_files(files: tuple[str, ...]) -> None:
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise FileNotFoundError(f"{missing[0]}: no such file{more}: nothing was merged")  # exit 2, as click's own


@central.command("merge")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--db", "db_url", required=True, envvar="STATION_CENTRAL_DB_URL",
              help="SQLAlchemy URL of the central database (env STATION_CENTRAL_DB_URL), e.g. "
                   "postgresql+psycopg://user:pass@host/central or sqlite:///central.db")
@click.option("--expect", "expect", type=click.Path(dir_okay=False), default=None,
              help="a file listing the station ids or polling station codes that must report")
@commission_cert_option
@crl_option
@register_option
@self_signed_ok_option
@pass_ctx
@handle_errors
def central_merge(ctx: Context, files: tuple[str, ...], db_url: str, expect: str | None,
                  commission_cert: str | None, crl: str | None, register_file: str | None,
                  self_signed_ok: bool) -> None:
    """Verify and import sync files into the central database, then print a JSON summary: double votes,
    enrollment duplicates, stations not reported, per-file results. Exit 0 when no file was refused, 1 otherwise
    (each refusal also on standard error), 2 for a usage error (a file that does not exist), 3 for a database it
    cannot use (docs/cli.md)."""
    from station.central.db import CentralDatabase
    from station.central.merge import REFUSED, merge_files

    _require_files(files)
    expected = _expected_codes(expect)
    commission_pem = _commission_pem(ctx, commission_cert, self_signed_ok)
    revocations = trust.held_revocations(crl, commission_pem, ctx.config())
    register = _register(ctx, register_file)
    with CentralDatabase(db_url) as database:
        result = merge_files(database, files, commission_pem=commission_pem, self_signed_ok=self_signed_ok,
                             expected=expected, revocations=revocations, register=register)
    click.echo(json.dumps(result, indent=1, ensure_ascii=False))
    for f in result["files"]:
        if f["status"] == REFUSED:
            click.echo(f"error: {f['file']}: refused: {f['reason']}", err=True)
    sys.exit(1 if result["refused"] else 0)


def _scheduler(_ctx, _param, value: str) -> str:
    from station.national.cluster import check_scheduler

    try:
        return check_scheduler(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@central.command("dedup")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--scheduler", default="local", show_default=True, callback=_scheduler,
              help="'local' (a cluster of worker processes here) or a Dask scheduler's address, tcp://HOST:8786 "
                   "(docs/scaling.md)")
@click.option("--workers", type=click.IntRange(1, 512), default=2, show_default=True,
              help="worker processes of --scheduler local")
@click.option("--shards", type=click.IntRange(1, 4096), default=None, help="roll shards (default: one per worker)")
@trust.commission_cert_option("the registrations file")
@trust.crl_option("the registrations file")
@trust.self_signed_ok_option("a registrations file")
@operator_option("commission")
@pass_ctx
@handle_errors
def central_dedup(ctx: Context, file: str, scheduler: str, workers: int, shards: int | None,
                  commission_cert: str | None, crl: str | None, self_signed_ok: bool, operator: str) -> None:
    """Commission: `station roll admit` with the 1:N search of every registrant against the whole master roll
    sharded over Dask workers (station/national/dedup.py). Registrants with candidates are held for adjudication,
    the others added to the roll; prints the admission's JSON with the shards and workers used."""
    from cryptography import x509

    from station.national.cluster import dask_client
    from station.national.dedup import ShardedRollIndex
    from station.packages.crypto import load_package_key
    from station.registration.dedup import SearchThresholds
    from station.registration.transfer import admit_registrations

    station = ctx.station()
    db_ready(station)
    config = station.config
    pem = trust.held_commission_pem(commission_cert, config)
    anchor = x509.load_pem_x509_certificate(pem) if pem else None
    with dask_client(scheduler, workers=workers) as client:
        index = ShardedRollIndex(client, station.fingerprint_matcher, shards=shards, ppi=config.fingerprint.ppi)
        result = admit_registrations(
            Path(file).read_bytes(), transaction=station.transaction, cipher=station.cipher,
            matcher=station.fingerprint_matcher, thresholds=SearchThresholds.from_config(config),
            signer=station.log_signer, package_key=load_package_key(config.keys_dir), commission_cert=anchor,
            operator=operator, self_signed_ok=self_signed_ok, revocations=trust.held_revocations(crl, pem, config),
            index=index)
        used = {"shards": index.shards, "workers": len(set(index.placement)), "roll_fingerprints": len(index)}
        index.close()
    click.echo(json.dumps({**result.to_dict(), **used}))


@central.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@commission_cert_option
@crl_option
@register_option
@self_signed_ok_option
@pass_ctx
@handle_errors
def central_verify(ctx: Context, file: str, commission_cert: str | None, crl: str | None,
                   register_file: str | None, self_signed_ok: bool) -> None:
    """Check one sync file as the merge would, with no database; exit 0 only if it would be accepted."""
    from station.central.errors import SyncFileRejected
    from station.central.verify import verify_export_file

    _require_files((file,))
    commission_pem = _commission_pem(ctx, commission_cert, self_signed_ok)
    try:
        export = verify_export_file(file, commission_pem=commission_pem, self_signed_ok=self_signed_ok,
                                    revocations=trust.held_revocations(crl, commission_pem, ctx.config()),
                                    register=_register(ctx, register_file))
    except SyncFileRejected as exc:
        click.echo(json.dumps({"file": file, "ok": False, "reason": str(exc)}))
        click.echo(f"error: {file}: refused: {exc}", err=True)
        sys.exit(1)
    r = export.results
    click.echo(json.dumps({"file": file, "ok": True, "station": export.station_id, "kind": export.kind,
                           "polling_station": export.reports_for, "exported_at": r.exported_at.isoformat(),
                           "sha256": export.file_sha256, "verification_sessions": len(r.sessions),
                           "ballots": len(r.ballots), "enrollments": len(r.enrollments),
                           "audit_entries": export.audit_entries, "sealed": export.audit_sealed,
                           "countersigned": export.countersigned, "warnings": list(export.warnings)}))
