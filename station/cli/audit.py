"""``station audit ...``: the tamper-evident match log, exported and checked offline.

    export | verify | report | merge               the hash-chained log and its bundle
    checkpoint | checkpoints | prove | consistency  the log's Merkle tree (RFC 9162): signed checkpoints, proof files
    check-proof | witness-key | witness           observers, offline: check a proof, cosign a checkpoint
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from station.audit.transparency import REASONS
from station.cli import trust
from station.cli.common import (POSITIVE_DB_INT, Context, ExitCode, db_ready, emit, exit_code_for, fail, handle_errors,
                                json_option, json_wanted, pass_ctx)
from station.errors import InvalidInput
from station.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES


@click.group()
def audit() -> None:
    """The tamper-evident match log: export, verify (offline), report, merge; the Merkle tree's checkpoints and
    proofs, and their offline check and witnessing."""


@audit.command("export")
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@pass_ctx
@handle_errors
def audit_export(ctx: Context, out: str) -> None:
    """Write a self-contained audit bundle (log, station certificate, roll digest, checkpoints, seal)."""
    station = ctx.station()
    db_ready(station)
    click.echo(json.dumps(station.audit.export(out)))


def _optional_config(config_home: str | None):
    try:
        from station.config import load_config

        return load_config(None, home=config_home)
    except Exception:  # noqa: BLE001  (no configuration: no default anchor, no held revocation list)
        return None


def commission_cert_pem(option: str | None, config_home: str | None = None) -> bytes | None:
    """The VERIFIER's commission certificate (station/cli/trust.py); verify runs with no configuration at all, and
    then only ``--commission-cert`` gives one."""
    try:
        return trust.held_commission_pem(option, _optional_config(config_home))
    except InvalidInput as exc:
        fail(str(exc))


def revocations(option: str | None, pem: bytes | None, config_home: str | None = None):
    """The VERIFIER's revocation list (``--crl``, else the home's keys/commission.crl), checked under ``pem``."""
    try:
        return trust.held_revocations(option, pem, _optional_config(config_home))
    except InvalidInput as exc:
        fail(str(exc))


commission_cert_option = trust.commission_cert_option("the bundle or checkpoint")
crl_option = trust.crl_option("the bundle or checkpoint")
self_signed_ok_option = trust.self_signed_ok_option("an intact chain")


def _read(path: str, what: str) -> bytes:
    """A file's bytes; a missing or unreadable one ends the command with one line naming it."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        fail(f"{what} {path}: {exc.strerror or exc}", exit_code_for(exc))


def _verified(bundle_path: str, commission_cert: str | None, home: str | None = None,
              checkpoints: tuple[str, ...] = (), crl: str | None = None):
    from station.audit.bundle import BundleError, verify_bundle

    pem = commission_cert_pem(commission_cert, home)
    revoked = revocations(crl, pem, home)
    held = [(f"checkpoint {path}", _read(path, "checkpoint")) for path in checkpoints]
    try:
        return verify_bundle(bundle_path, commission_cert_pem=pem, held_checkpoints=held, revocations=revoked)
    except OSError as exc:
        fail(f"{bundle_path}: {exc.strerror or exc}", exit_code_for(exc))
    except (BundleError, ValueError) as exc:  # damaged beyond reading: the check failed
        fail(str(exc), ExitCode.CHECK_FAILED)


checkpoint_option = click.option(
    "--checkpoint", "checkpoints", multiple=True, type=click.Path(dir_okay=False),
    help="a signed checkpoint note you hold (e.g. read off the summary screen's QR code); repeatable")


@audit.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False))
@commission_cert_option
@crl_option
@self_signed_ok_option
@checkpoint_option
@json_option
@click.pass_context
@handle_errors
def audit_verify(click_ctx: click.Context, bundle: str, commission_cert: str | None, crl: str | None,
                 self_signed_ok: bool, checkpoints: tuple[str, ...], as_json: bool) -> None:
    """Verify a bundle with nothing else (no database); exit 0 only if the whole chain holds and the station
    certificate is issued by the commission certificate you hold (or, with --self-signed-ok, the chain holds), exit 1
    otherwise (a damaged bundle included). Checkpoints you hold (--checkpoint) must be matched by the log: an entry
    removed or changed before one breaks."""
    result = _verified(bundle, commission_cert, _home(click_ctx), checkpoints, crl)
    accepted = result.accepted(self_signed_ok)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "accepted": accepted}))
        if not accepted and result.ok:
            click.echo(f"error: {result.signer_status()}", err=True)
    else:
        click.echo(f"station {result.station}: {result.entries} entries, "
                   f"{'sealed' if result.sealed else 'not sealed'}: "
                   f"{_chain_status(result)}; "
                   f"{result.signer_status()}")
        for b in result.breaks:
            click.echo(f"  break{'' if b.seq is None else f' at entry {b.seq}'}: {b.message}")
        for w in result.warnings:
            if w != result.signer_status():  # already said on the first line
                click.echo(f"  warning: {w}")
    sys.exit(ExitCode.DONE if accepted else ExitCode.CHECK_FAILED)


def _chain_status(result) -> str:
    if result.ok:
        return "CHAIN HOLDS"
    return "BROKEN" if result.first_broken_seq is None else f"BROKEN from entry {result.first_broken_seq}"


def _home(click_ctx: click.Context) -> str | None:
    obj = click_ctx.find_object(Context)
    return obj.home if obj is not None else None


def _polling_hours(click_ctx: click.Context, param: click.Parameter, value: str) -> str:
    from station.config import _hours_ok  # the rule of the configuration's audit.polling_hours

    if not _hours_ok(value):
        raise click.BadParameter(f"{value!r} is not opening and closing hours like 08:00-17:00")
    return value


def _time_zone(click_ctx: click.Context, param: click.Parameter, value: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError; a malformed key a ValueError
        raise click.BadParameter(f"{value!r} is not a time zone (an IANA name like Asia/Karachi)") from None
    return value


@audit.command("report")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@click.option("--polling-hours", default="08:00-17:00", show_default=True, callback=_polling_hours)
@click.option("--timezone", default="Asia/Karachi", show_default=True, callback=_time_zone)
@click.option("--min-seconds", type=float, default=20.0, show_default=True, help="faster identify-to-ballot is flagged")
@click.option("--lang", type=click.Choice(list(LANGUAGES)), default=DEFAULT_LANGUAGE, show_default=True,
              help="the report's language: English, or Urdu (right-to-left, in Nastaliq)")
@commission_cert_option
@crl_option
@self_signed_ok_option
@click.pass_context
@handle_errors
def audit_report(click_ctx: click.Context, bundle: str, out: str, polling_hours: str, timezone: str,
                 min_seconds: float, lang: str, commission_cert: str | None, crl: str | None,
                 self_signed_ok: bool) -> None:
    """The auditor's HTML report (self-contained) from a bundle whose signer is certified by the commission (or,
    with --self-signed-ok, any signer: the report then says it is not authenticated)."""
    from station.audit import report
    from station.security.files import write_atomically

    result = _verified(bundle, commission_cert, _home(click_ctx), crl=crl)
    if result.countersigned is False or (result.countersigned is None and not self_signed_ok):
        problem = next((b.message for b in result.breaks if b.kind == "certificate"), result.signer_status())
        fail(f"{bundle}: {problem}: no report written", ExitCode.CHECK_FAILED)
    try:
        findings = report.analyse(result.bodies, result.station,
                                  report.ReportSettings(timezone, polling_hours, min_seconds))
    except (ValueError, KeyError) as exc:
        fail(f"cannot analyse the bundle: {exc}")
    write_atomically(Path(out), report.render_html(findings, result.to_dict(), lang).encode("utf-8"), mode=0o644)
    click.echo(json.dumps({"out": out, "chain_ok": result.ok, "authenticated": result.authenticated,
                           "anomalies": len(findings.anomalies)}))


@audit.command("merge")
@click.argument("bundles", nargs=-1, required=True, type=click.Path(dir_okay=False))
@commission_cert_option
@crl_option
@self_signed_ok_option
@json_option
@click.pass_context
@handle_errors
def audit_merge(click_ctx: click.Context, bundles: tuple[str, ...], commission_cert: str | None, crl: str | None,
                self_signed_ok: bool, as_json: bool) -> None:
    """Verify several stations' bundles (each signer against the commission certificate) and report voters given a
    ballot at more than one station; only accepted bundles are counted."""
    from station.audit.merge import merge_bundles

    pem = commission_cert_pem(commission_cert, _home(click_ctx))
    result = merge_bundles(list(bundles), commission_cert_pem=pem, self_signed_ok=self_signed_ok,
                           revocations=revocations(crl, pem, _home(click_ctx)))
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
    sys.exit(ExitCode.DONE if result["ok"] else ExitCode.CHECK_FAILED)


# --- the Merkle tree: checkpoints and proofs (the station), their offline check and witnessing (observers) ---
@audit.command("checkpoint")
@click.option("--reason", type=click.Choice(REASONS), default="manual", show_default=True,
              help="why it is taken (the schedule takes open, hourly and close itself)")
@pass_ctx
@handle_errors
def audit_checkpoint(ctx: Context, reason: str) -> None:
    """Sign a checkpoint of the log's Merkle tree now (the stored one when the log did not grow); its note and QR
    code are written to STATION_HOME/audit/tree."""
    station = ctx.station()
    db_ready(station)
    taken = station.transparency.take(reason)
    folder = station.transparency.settings.folder
    click.echo(json.dumps({**taken.to_dict(), "files": [str(folder / f"{taken.tree_size:09d}.{kind}")
                                                        for kind in ("note", "png")]}))


@audit.command("checkpoints")
@json_option
@pass_ctx
@handle_errors
def audit_checkpoints(ctx: Context, as_json: bool) -> None:
    """The stored checkpoints, oldest first: tree size, when, why, root."""
    station = ctx.station()
    db_ready(station)
    taken = [c.to_dict() for c in station.transparency.checkpoints()]
    if as_json:
        click.echo(json.dumps(taken))
    for c in [] if as_json else taken:
        click.echo(f"{c['tree_size']:>9} {c['taken_at']} {c['reason']:<7} {c['root']}")


def _write_proof(out: str, proof) -> None:
    from station.security.files import write_atomically

    write_atomically(Path(out), (json.dumps(proof.to_dict(), indent=1, ensure_ascii=False) + "\n").encode(),
                     mode=0o644)


@audit.command("prove")
@click.argument("entry", type=POSITIVE_DB_INT)
@click.option("--size", type=POSITIVE_DB_INT, default=None,
              help="the checkpoint (tree size) to prove against; default: the oldest that holds the entry")
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@pass_ctx
@handle_errors
def audit_prove(ctx: Context, entry: int, size: int | None, out: str) -> None:
    """Write the inclusion proof of log entry ENTRY (numbered from 1; leaf index ENTRY-1) against a stored
    checkpoint, for `station audit check-proof`."""
    station = ctx.station()
    db_ready(station)
    proof = station.transparency.prove(entry, size)
    _write_proof(out, proof)
    click.echo(json.dumps({"out": out, "entry": entry, "tree_size": proof.tree_size, "path": len(proof.path)}))


@audit.command("consistency")
@click.argument("old", type=POSITIVE_DB_INT)
@click.argument("new", type=POSITIVE_DB_INT)
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@pass_ctx
@handle_errors
def audit_consistency(ctx: Context, old: int, new: int, out: str) -> None:
    """Write the consistency proof between the stored checkpoints of tree sizes OLD and NEW, for `station audit
    check-proof` and `station audit witness`."""
    station = ctx.station()
    db_ready(station)
    proof = station.transparency.consistency(old, new)
    _write_proof(out, proof)
    click.echo(json.dumps({"out": out, "old_size": old, "new_size": new, "proof": len(proof.proof)}))


def _required_commission_pem(commission_cert: str | None, click_ctx: click.Context) -> bytes:
    pem = commission_cert_pem(commission_cert, _home(click_ctx))
    if pem is None:
        fail("no commission certificate: give --commission-cert FILE (the trust anchor is never taken from the "
             "file being checked)", ExitCode.USAGE)
    return pem


def _notes(paths: tuple[str, ...]) -> list:
    from station.audit.note import parse_note

    return [parse_note(_read(path, "checkpoint")) for path in paths]


def _witness_keys(values: tuple[str, ...]) -> list:
    """Verifier keys given as text, or as files holding one."""
    from station.audit.note import parse_verifier_key

    return [parse_verifier_key(_read(v, "witness key").decode(errors="replace") if os.path.isfile(v) else v)
            for v in values]


@audit.command("check-proof")
@click.argument("proof", type=click.Path(dir_okay=False))
@checkpoint_option
@click.option("--witness-key", "witness_keys", multiple=True,
              help="a witness's verifier key (name+hash+key, or a file holding it) whose cosignature each checkpoint "
                   "must carry; repeatable")
@commission_cert_option
@crl_option
@json_option
@click.pass_context
@handle_errors
def audit_check_proof(click_ctx: click.Context, proof: str, checkpoints: tuple[str, ...],
                      witness_keys: tuple[str, ...], commission_cert: str | None, crl: str | None,
                      as_json: bool) -> None:
    """Check an inclusion or consistency proof offline (no database) against the signed checkpoints (yours with
    --checkpoint, else the file's) and the commission certificate you hold; exit 0 only if everything holds."""
    from station.audit.merkle_verify import (InclusionProof, ProofFileError, check_consistency, check_inclusion,
                                             read_proof)

    pem = _required_commission_pem(commission_cert, click_ctx)
    try:
        parsed = read_proof(_read(proof, "proof file"))
    except ProofFileError as exc:  # the file checked is not a proof: the check failed
        fail(str(exc), ExitCode.CHECK_FAILED)
    check = (check_inclusion if isinstance(parsed, InclusionProof) else check_consistency)(
        parsed, pem, checkpoints=_notes(checkpoints), witnesses=_witness_keys(witness_keys),
        revocations=revocations(crl, pem, _home(click_ctx)))
    if as_json:
        click.echo(json.dumps(check.to_dict()))
    else:
        click.echo(f"{proof}: {'PROOF HOLDS' if check.ok else 'PROOF FAILS'} (station {check.station or '?'})")
        for line in check.held:
            click.echo(f"  ok: {line}")
        for line in check.problems:
            click.echo(f"  FAIL: {line}")
    sys.exit(ExitCode.DONE if check.ok else ExitCode.CHECK_FAILED)


@audit.command("witness-key")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="the new key file (0600)")
@click.option("--name", required=True, help="the witness's name, e.g. observer.example/agent-7 (no spaces, no '+')")
@handle_errors
def audit_witness_key(out: str, name: str) -> None:
    """Make a witness's Ed25519 key; prints its verifier key, to publish (`check-proof --witness-key`)."""
    from station.audit.witness import create_key

    verifier_key = create_key(Path(out), name).verifier_key()
    emit({"name": name, "out": out, "verifier_key": verifier_key}, verifier_key)


@audit.command("witness")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--key", "key_file", type=click.Path(dir_okay=False), required=True,
              help="the witness's key (`station audit witness-key`)")
@click.option("--state", "state_file", type=click.Path(dir_okay=False), required=True,
              help="the witness's state: the last checkpoint it cosigned per station (created on first use)")
@click.option("--proof", "proof_file", type=click.Path(dir_okay=False), default=None,
              help="consistency proof from the last cosigned size to this one (`station audit consistency`)")
@click.option("--station-cert", type=click.Path(dir_okay=False), default=None,
              help="the station's certificate (default: the one in --proof); checked against the commission's")
@commission_cert_option
@crl_option
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="write the cosigned note here (default: standard output)")
@click.pass_context
@handle_errors
def audit_witness(click_ctx: click.Context, checkpoint: str, key_file: str, state_file: str,
                  proof_file: str | None, station_cert: str | None, commission_cert: str | None, crl: str | None,
                  out: str | None) -> None:
    """Cosign a station's checkpoint after checking it is signed by a key the commission certified and that it
    extends the last checkpoint this witness cosigned for the station; exit 1 and say why when it does not (a
    split view, a rollback, an inconsistent log)."""
    from station.audit.merkle_verify import ConsistencyProof, CertifiedStation, read_proof
    from station.audit.note import parse_note
    from station.audit.witness import WitnessState, cosign, load_key

    pem = _required_commission_pem(commission_cert, click_ctx)
    witness = load_key(Path(key_file))
    note = parse_note(_read(checkpoint, "checkpoint"))
    proof = read_proof(_read(proof_file, "proof file")) if proof_file else None
    if proof is not None and not isinstance(proof, ConsistencyProof):
        fail(f"{proof_file} is an inclusion proof, not a consistency proof")
    station_pem = _read(station_cert, "station certificate") if station_cert else (
        proof.station_certificate if proof is not None else None)
    if station_pem is None:
        fail("give --station-cert FILE (or --proof, which carries it): the checkpoint's signer must be checked",
             ExitCode.USAGE)
    station, problem = CertifiedStation.from_pem(station_pem, pem, revocations(crl, pem, _home(click_ctx)))
    if station is None:
        click.echo(f"refused: {problem}", err=True)
        sys.exit(ExitCode.CHECK_FAILED)
    state = WitnessState.load(Path(state_file))
    result = cosign(note, station, witness, state, proof)
    if not result.ok:
        click.echo(result.message, err=True)
        if result.evidence:
            click.echo("the checkpoint this witness cosigned before (keep it with this one as evidence):", err=True)
            click.echo(result.evidence, err=True, nl=False)
        sys.exit(ExitCode.CHECK_FAILED)
    if out:  # the cosigned note first: the state says it was cosigned only once it is written
        from station.security.files import write_atomically

        write_atomically(Path(out), result.note.encode(), mode=0o644)
    state.save(Path(state_file))
    if out:
        emit({"out": out, "note": result.note, "message": result.message}, result.message)
    elif json_wanted():
        emit({"out": None, "note": result.note, "message": result.message})
    else:
        click.echo(result.note, nl=False)
        click.echo(result.message, err=True)

