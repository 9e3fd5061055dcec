"""``station backup init|create|verify|restore``: consistent, encrypted, signed snapshots of the station.

The passphrase comes from ``--passphrase-file FILE`` (its first line), the environment variable
``STATION_BACKUP_PASSPHRASE``, or a hidden prompt (standard input when it is not a terminal). Only ``init``,
``verify`` and ``restore`` need it: a backup is encrypted to the public key made by ``init``.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from station.cli import trust
from station.cli.common import (Context, ExitCode, db_ready, fail, handle_errors, json_option, not_initialised,
                                pass_ctx, read_secret)

PASSPHRASE_ENV = "STATION_BACKUP_PASSPHRASE"
passphrase_option = click.option("--passphrase-file", type=click.Path(dir_okay=False), default=None,
                                 help=f"read the backup passphrase from this file (else ${PASSPHRASE_ENV}, "
                                      "else a hidden prompt)")


def read_passphrase(passphrase_file: str | None, *, confirm: bool = False) -> str:
    return read_secret("backup passphrase", passphrase_file, PASSPHRASE_ENV, confirm=confirm)


def _commission_pem(option: str | None, config, self_signed_ok: bool) -> bytes | None:
    """The restorer's/verifier's commission certificate (station/cli/trust.py); never the one inside the backup."""
    return trust.anchor_or_self_signed(trust.held_commission_pem(option, config), self_signed_ok)


commission_cert_option = trust.commission_cert_option("the backup")
crl_option = trust.crl_option("the backup")
self_signed_ok_option = trust.self_signed_ok_option("a backup")


@click.group()
def backup() -> None:
    """Backups of the station's database, keys and log."""


@backup.command("init")
@passphrase_option
@click.option("--replace", is_flag=True, help="make a new backup key (older backups keep their old passphrase)")
@pass_ctx
@handle_errors
def backup_init(ctx: Context, passphrase_file: str | None, replace: bool) -> None:
    """Make the backup key pair: keys/backup.pub, and keys/backup-key.enc under the passphrase (asked twice)."""
    from station.backup.archive import init_backup_key

    config = ctx.config()
    if not (config.keys_dir / "template.key").is_file():
        raise not_initialised(f"no station key {config.keys_dir / 'template.key'}")
    click.echo(json.dumps(init_backup_key(config, read_passphrase(passphrase_file, confirm=True), replace=replace)))


@backup.command("create")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="the backup file to write")
@pass_ctx
@handle_errors
def backup_create(ctx: Context, out: str) -> None:
    """Write a consistent, encrypted, signed snapshot (database, keys, log checkpoints and seal); safe while the
    station is serving."""
    from station.backup.archive import create_backup

    station = ctx.station()
    db_ready(station)
    summary = create_backup(out, config=station.config, engine=station.engine, signer=station.log_signer,
                            reason="manual")
    click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))


@backup.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@passphrase_option
@commission_cert_option
@crl_option
@self_signed_ok_option
@json_option
@click.pass_context
@handle_errors
def backup_verify(click_ctx: click.Context, file: str, passphrase_file: str | None, commission_cert: str | None,
                  crl: str | None, self_signed_ok: bool, as_json: bool) -> None:
    """Check a backup with nothing else (no station, no database): the signer against the commission certificate,
    signature, decryption, row counts, keys and the match log's chain. Exit 0 only if all hold, 1 when the backup
    fails a check (altered, truncated, foreign), 3 when the passphrase is wrong."""
    from station.backup.archive import verify_backup
    from station.backup.format import BackupRejected, WrongBackupPassphrase

    try:
        config = click_ctx.find_object(Context).config()
    except Exception:  # noqa: BLE001  (verify needs no configuration: then there is no default certificate or list)
        config = None
    pem = _commission_pem(commission_cert, config, self_signed_ok)
    revocations = trust.held_revocations(crl, pem, config)
    passphrase = read_passphrase(passphrase_file)
    try:
        summary = verify_backup(file, passphrase, commission_pem=pem, self_signed_ok=self_signed_ok,
                                revocations=revocations)
    except WrongBackupPassphrase:
        raise
    except BackupRejected as exc:
        fail(str(exc), ExitCode.CHECK_FAILED)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
        return
    click.echo(f"backup of station {summary.station} taken {summary.created_at} ({summary.reason}): OK")
    click.echo(f"  match log: {summary.log_head_seq} entries, chain holds"
               f"{', sealed (poll closed)' if summary.sealed else ''}")
    click.echo("  rows: " + ", ".join(f"{t} {n}" for t, n in summary.tables.items() if n))
    click.echo(f"  files: {len(summary.files)}; {summary.file_bytes} bytes, sha256 {summary.file_sha256}")
    click.echo(f"  signed by certificate sha256 {summary.certificate_sha256}: "
               + ("certified by the commission" if summary.signer_authenticated else
                  "integrity only: the signer is not authenticated (--self-signed-ok)"))
    for warning in summary.warnings:
        click.echo(f"  warning: {warning}")


@backup.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--home", "new_home", type=click.Path(file_okay=False), default=None,
              help="restore into this STATION_HOME (default: the global --home / $STATION_HOME)")
@click.option("--force", is_flag=True, help="replace a station already there (its files are moved aside)")
@passphrase_option
@commission_cert_option
@crl_option
@self_signed_ok_option
@pass_ctx
@handle_errors
def backup_restore(ctx: Context, file: str, new_home: str | None, force: bool, passphrase_file: str | None,
                   commission_cert: str | None, crl: str | None, self_signed_ok: bool) -> None:
    """Check a backup completely, then restore its database, keys and log files into a station home. A damaged,
    foreign or wrong-passphrase file changes nothing."""
    from station.backup.restore import restore_backup

    target = Context(ctx.profile, str(Path(new_home)) if new_home else ctx.home).config()
    pem = _commission_pem(commission_cert, target, self_signed_ok)
    result = restore_backup(file, read_passphrase(passphrase_file), target, force=force, commission_pem=pem,
                            self_signed_ok=self_signed_ok, revocations=trust.held_revocations(crl, pem, target))
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
