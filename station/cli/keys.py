"""``station keys status|protect``: how the station's private keys are kept at rest (``keys.protection``; what each
mode stops is in docs/threat-model.md).

A command that needs a key sealed under a passphrase asks for the passphrase on its terminal, or reads
$STATION_KEYS_PASSPHRASE (``terminal_passphrase``: every command but ``serve`` and ``demo``, whose server waits for the
presiding officer's unlock instead). ``protect --mode passphrase`` reads the new passphrase from ``--passphrase-file``,
$STATION_KEYS_NEW_PASSPHRASE, a prompt (twice) or standard input (two lines)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from station.cli.common import Context, ExitCode, handle_errors, json_option, pass_ctx, read_secret, utf8_text
from station.errors import InvalidInput
from station.security.keystore import (CREDENTIAL_FILE, CREDENTIAL_NAME, PASSPHRASE, PROTECTIONS, SYSTEMD_CREDS,
                                       KeysLocked)

PASSPHRASE_ENV = "STATION_KEYS_PASSPHRASE"
NEW_PASSPHRASE_ENV = "STATION_KEYS_NEW_PASSPHRASE"


def terminal_passphrase() -> str:
    """The key passphrase for a command run by hand: $STATION_KEYS_PASSPHRASE, else a hidden prompt on a terminal."""
    if os.environ.get(PASSPHRASE_ENV):
        return utf8_text(os.environ[PASSPHRASE_ENV], f"${PASSPHRASE_ENV}")
    if sys.stdin.isatty():
        return click.prompt("station key passphrase", hide_input=True, err=True)
    raise KeysLocked(f"the station keys are sealed under a passphrase: run the command in a terminal (it asks for "
                     f"it) or set ${PASSPHRASE_ENV}")


@click.group("keys")
def keys_group() -> None:
    """How the station's private keys are kept at rest: plain files (demo), sealed under a passphrase, or sealed
    with systemd-creds."""


@keys_group.command("status")
@json_option
@pass_ctx
@handle_errors
def keys_status(ctx: Context, as_json: bool) -> None:
    """How the keys are kept, what keys.protection requires, and each key file: plain, sealed or missing."""
    keys = ctx.station().keys
    _, ok, detail = keys.health()
    files = keys.store.file_states(keys.key_files)
    if as_json:
        click.echo(json.dumps({"keys_dir": str(keys.store.keys_dir), "protection": keys.store.protection,
                               "required": keys.required, "ok": ok, "detail": detail,
                               "files": {f.name: f.state for f in files}}))
        if not ok:
            sys.exit(ExitCode.CHECK_FAILED)
        return
    click.echo(f"{keys.store.keys_dir}: {keys.announcement().removeprefix('keys: ')}")
    click.echo(f"keys.protection = {keys.required!r}: {'ok' if ok else 'FAIL'}: {detail}")
    for f in files:
        click.echo(f"  {f.state:<7} {f.name}")
    if not ok:
        sys.exit(ExitCode.CHECK_FAILED)


@keys_group.command("protect")
@click.option("--mode", type=click.Choice(PROTECTIONS), default=None,
              help="how to keep the keys (default: keys.protection)")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), default=None,
              help=f"--mode passphrase: the new passphrase from this file (else ${NEW_PASSPHRASE_ENV}, else a prompt)")
@json_option
@pass_ctx
@handle_errors
def keys_protect(ctx: Context, mode: str | None, passphrase_file: str | None, as_json: bool) -> None:
    """Convert the key files to MODE (plain files to sealed, sealed to plain, one seal to another, or a new
    passphrase), each file replaced atomically; stop the service first. Sets keys.protection in the home's
    station.toml when it differs. systemd-creds needs root, and for the service's home writes the unit's drop-in."""
    from station.config import write_local_overrides
    from station.service import install

    station = ctx.station()
    config, keys = station.config, station.keys
    mode = mode or config.keys.protection
    if mode == SYSTEMD_CREDS and os.geteuid() != 0:
        raise InvalidInput("sealing with systemd-creds needs root (the host key and the TPM are root's): run it with "
                           "sudo, as the same STATION_HOME")
    keys.store.open()  # sealed already: the current passphrase (or the credential) first
    passphrase = (read_secret("new key passphrase", passphrase_file, NEW_PASSPHRASE_ENV, confirm=True)
                  if mode == PASSPHRASE else None)
    result = keys.protect(mode, passphrase=passphrase)
    notes = []
    if mode != config.keys.protection:
        path = write_local_overrides(config.home, "keys", {"protection": mode})
        _give_to_home_owner(path, config.home)
        notes.append(f"keys.protection = {mode!r} written to {path}")
    if config.home == Path("/", install.DATA_DIR) and os.geteuid() == 0:
        report = install.set_key_credential("/", mode == SYSTEMD_CREDS)
        notes += [*report.actions, *report.notes]
    elif mode == SYSTEMD_CREDS:
        notes.append(f"the service must load the credential: LoadCredentialEncrypted={CREDENTIAL_NAME}:"
                     f"{keys.store.keys_dir / CREDENTIAL_FILE} in its unit")
    if as_json:
        click.echo(json.dumps({"protection": result.protection, "previous": result.previous,
                               "converted": list(result.converted), "unchanged": list(result.unchanged),
                               "notes": notes}))
        return
    click.echo(f"keys: {result.previous} -> {result.protection}; converted: {', '.join(result.converted) or 'none'}")
    for note in notes:
        click.echo(f"note: {note}", err=True)


def _give_to_home_owner(path: Path, home: Path) -> None:
    """Run as root on the service's home, a file written there must stay readable by the service's user."""
    if os.geteuid() == 0:
        owner = home.stat()
        os.chown(path, owner.st_uid, owner.st_gid)
