"""``station roll``, every command in one place: the synthetic roll and the listing (every station), and the signed,
encrypted roll packages from the commission to its stations (docs/roll-packages.md).

Every station: ``synth``, ``list``, ``hash``, ``status``.
Commission side: ``commission-init``, ``add-station``, ``add-centre``, ``revoke``, ``crl``, ``certificates``,
``stations``, ``remove``, ``correct``, ``package``, ``admit`` (a registration centre's new voters, after the
commission's own 1:N search).
Station side: ``station-key``, ``trust``, ``import``.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from station.cli.common import (POSITIVE_DB_INT, Context, ExitCode, StderrProgress, db_ready, emit, emit_rows, fail,
                                handle_errors, json_option, json_wanted, operator_option, pass_ctx, say)
from station.cli.trust import (commission_cert_option, crl_option, held_commission_pem, held_revocations,
                               self_signed_ok_option)
from station.security.files import write_atomically


def _echo_json(data: dict) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


# --- every station: the synthetic roll (demo, tests) and the listing ---
@click.group("roll")
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
    with StderrProgress(min_total=1) as progress:
        summary = station.synthesize_roll(voters, seed, faces_dir=faces, workers=workers, progress=progress)
    click.echo(json.dumps(summary, ensure_ascii=False))
    if not faces:
        say("note: no --faces folder given: face fallback is off for this roll (no face references)")


@roll_group.command("list")
@click.option("--limit", type=POSITIVE_DB_INT, default=None)
@click.option("--polling-station", default=None)
@pass_ctx
@handle_errors
def roll_list(ctx: Context, limit: int | None, polling_station: str | None) -> None:
    """List voters on the roll (with --json: one JSON array, a voter per line)."""
    station = ctx.station()
    db_ready(station)
    emit_rows((v.to_dict() for v in station.roll.list_voters(limit=limit, polling_station=polling_station)),
              lambda v: f"{v['polling_station']} {v['serial_number']:>5} {v['cnic']} {v['gender']:<6} "
                        f"{v['name_en']} / {v['name_ur']}")


# --- the commission ---
@click.command("commission-init")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="also write the public key to this file")
@click.option("--cert-out", type=click.Path(dir_okay=False), default=None,
              help="also write the commission's root certificate (what every verifier holds) to this file")
@pass_ctx
@handle_errors
def commission_init(ctx: Context, out: str | None, cert_out: str | None) -> None:
    """Make this station home the commission's: its Ed25519 signing key (keys/commission-signing.key, 0600), the
    public half (keys/commission-signing.pub, what stations trust), its self-signed root certificate
    (keys/commission.crt: what verifiers hold, docs/commission-pki.md) and roll revision 1."""
    from station.packages.crypto import (COMMISSION_CERT_FILE, COMMISSION_PUBLIC_FILE, create_commission_certificate,
                                         create_commission_key, key_id, load_commission_key, public_pem)
    from station.roll.changes import start_revisions

    station = ctx.station()
    db_ready(station)
    created = create_commission_key(station.config.keys_dir)
    from station.audit.identity import create_election_voter_key  # the election's voter-reference key (0600)

    created = create_election_voter_key(station.config.keys_dir) or created
    cert_created = create_commission_certificate(station.config.keys_dir)
    cert_path = station.config.keys_dir / COMMISSION_CERT_FILE
    if cert_out:
        write_atomically(Path(cert_out), cert_path.read_bytes(), mode=0o644)
    public = load_commission_key(station.config.keys_dir).public_key()
    with station.transaction() as s:
        revision = start_revisions(s)
    if out:
        write_atomically(Path(out), public_pem(public), mode=0o644)
    _echo_json({"key_id": key_id(public), "created": created, "revision": revision,
                "public_key": str(station.config.keys_dir / COMMISSION_PUBLIC_FILE), "out": out,
                "certificate": str(cert_path), "certificate_created": cert_created, "cert_out": cert_out})


def _issue(station, session, subject_id: str, request_file: str, out: str, role: str) -> dict:
    """The commission's certificate for ``subject_id``'s log key from its request, written to ``out`` and recorded
    (issued_certificates: what `roll revoke` finds by id)."""
    from cryptography.hazmat.primitives import serialization

    from station.packages.certificates import record_issued
    from station.packages.crypto import (issue_certificate, load_commission_certificate, load_commission_key,
                                         load_request)

    keys_dir = station.config.keys_dir
    request = load_request(Path(request_file).read_bytes(), request_file)
    cert = issue_certificate(load_commission_key(keys_dir), load_commission_certificate(keys_dir), request,
                             subject_id, role)
    record_issued(session, cert, subject_id, role)
    write_atomically(Path(out), cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return {"certificate": out, "role": role, "serial": format(cert.serial_number, "x"),
            "not_after": cert.not_valid_after_utc.isoformat()}


request_option = click.option("--request", "request_file", type=click.Path(dir_okay=False), default=None,
                              help="its certificate request (from `station identity request`): issue its log "
                                   "certificate to --out")
cert_out_option = click.option("--out", "cert_out", type=click.Path(dir_okay=False), default=None,
                               help="where to write the certificate issued from --request")


@click.command("add-station")
@click.argument("station_id")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), required=True,
              help="the station's public package key (from `station roll station-key`)")
@click.option("--polling-station", required=True, help="code of the polling station whose roll it serves")
@click.option("--replace", is_flag=True, help="change an already registered station")
@request_option
@cert_out_option
@operator_option("commission")
@pass_ctx
@handle_errors
def add_station(ctx: Context, station_id: str, key_file: str, polling_station: str, replace: bool,
                request_file: str | None, cert_out: str | None, operator: str) -> None:
    """Register a station that receives packages (commission side); with --request, also issue its log
    certificate (what every verifier of its logs, results and backups checks against the commission's)."""
    from station.audit.identity import ROLE_STATION
    from station.packages.crypto import load_package_public
    from station.packages.targets import add_target
    from station.roll.changes import require_commission

    from station.audit import log as matchlog

    if bool(request_file) != bool(cert_out):
        fail("--request and --out go together: the station's request, and where to write its certificate",
             ExitCode.USAGE)
    station = ctx.station()
    db_ready(station)
    key = load_package_public(Path(key_file).read_bytes(), key_file)
    with station.transaction() as s:
        require_commission(s)
        target = add_target(s, station_id, polling_station, key, replace=replace)
        issued = _issue(station, s, station_id, request_file, cert_out, ROLE_STATION) if request_file else None
        matchlog.append(s, station.flow.log, event="roll_station_added", operator=operator,
                        outcome="replaced" if replace else "added",
                        details={**target.to_dict(), **({"certificate_serial": issued["serial"]} if issued else {})})
    _echo_json({**target.to_dict(), **({"issued": issued} if issued else {})})


@click.command("add-centre")
@click.argument("centre_id")
@click.option("--request", "request_file", type=click.Path(dir_okay=False), required=True,
              help="the centre's certificate request (from `station identity request` at the centre)")
@click.option("--out", "cert_out", type=click.Path(dir_okay=False), required=True,
              help="where to write the centre's certificate (installed there with `station identity install`)")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), default=None,
              help="the centre's public package key (from `station roll station-key` at the centre): with "
                   "--polling-station, the centre receives roll packages, which bring its polling scheme")
@click.option("--polling-station", default=None,
              help="the polling station whose roll (and constituency's polling scheme) the centre's packages carry")
@operator_option("commission")
@pass_ctx
@handle_errors
def add_centre(ctx: Context, centre_id: str, request_file: str, cert_out: str, key_file: str | None,
               polling_station: str | None, operator: str) -> None:
    """Certify a registration centre (commission side): only files signed by a certified centre are admitted by
    `station roll admit`. With --key and --polling-station, also register it for roll packages (`station roll
    package --station ID`): a centre registers people for the polling stations of the scheme they bring."""
    from station.audit import log as matchlog
    from station.audit.identity import ROLE_CENTRE
    from station.packages.crypto import load_package_public
    from station.packages.targets import add_target
    from station.roll.changes import require_commission

    if bool(key_file) != bool(polling_station):
        fail("--key and --polling-station go together: the centre's package key, and the polling station whose roll "
             "and scheme its packages carry", ExitCode.USAGE)
    station = ctx.station()
    db_ready(station)
    key = load_package_public(Path(key_file).read_bytes(), key_file) if key_file else None
    with station.transaction() as s:
        require_commission(s)
        packages = {}  # registered for roll packages too: where to, under which key
        if key is not None:
            target = add_target(s, centre_id, polling_station, key)
            packages = {"polling_station": target.polling_station, "key_id": target.key_id}
        issued = _issue(station, s, centre_id, request_file, cert_out, ROLE_CENTRE)
        matchlog.append(s, station.flow.log, event="roll_centre_added", operator=operator, outcome="certified",
                        details={"centre": centre_id, "certificate_serial": issued["serial"], **packages})
    _echo_json({"centre": centre_id, **packages, "issued": issued})


@click.command("revoke")
@click.argument("id_or_serial")
@click.option("--reason", type=click.Choice(["unspecified", "key-compromise", "superseded", "affiliation-changed",
                                             "cessation-of-operation", "privilege-withdrawn"]),
              default="unspecified", show_default=True)
@operator_option("commission")
@pass_ctx
@handle_errors
def revoke(ctx: Context, id_or_serial: str, reason: str, operator: str) -> None:
    """Revoke the certificates issued to a station or centre (by its id), or one certificate (by its hex serial),
    and sign the next revocation list (keys/commission.crl): every roll package built from now on carries it, and
    `station roll crl --out FILE` exports it for auditors and the results centre (docs/commission-pki.md)."""
    from station.audit import log as matchlog
    from station.audit.revocation import crl_number, held_path
    from station.packages.certificates import issue_list, revoke as revoke_certificates
    from station.roll.changes import require_commission

    station = ctx.station()
    db_ready(station)
    with station.transaction() as s:
        require_commission(s)
        revoked = revoke_certificates(s, id_or_serial, reason)
        pem = issue_list(s, station.config.keys_dir)
        matchlog.append(s, station.flow.log, event="roll_certificate_revoked", operator=operator,
                        outcome="revoked", details={"target": id_or_serial, "reason": reason,
                                                    "crl_number": crl_number(pem),
                                                    "serials": [r.revocation.serial_hex for r in revoked],
                                                    "subjects": sorted({r.subject for r in revoked})})
    _echo_json({"revoked": [r.to_dict() for r in revoked], "crl": str(held_path(station.config.keys_dir)),
                "crl_number": crl_number(pem)})


@click.command("crl")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="where to write the revocation list (PEM)")
@click.option("--renew", is_flag=True, help="sign a new list now (the next number), even if the held one is current")
@operator_option("commission")
@pass_ctx
@handle_errors
def crl(ctx: Context, out: str, renew: bool, operator: str) -> None:
    """Export the commission's signed revocation list (commission side), for verifiers' --crl; a new one is signed
    first when there is none yet, when the held one is past its next update, or with --renew."""
    from station.audit import log as matchlog
    from station.audit.revocation import held_path, load_revocation_list
    from station.packages.certificates import current_list
    from station.packages.crypto import load_commission_certificate
    from station.roll.changes import require_commission

    station = ctx.station()
    db_ready(station)
    keys_dir = station.config.keys_dir
    with station.transaction() as s:
        require_commission(s)
        before = held_path(keys_dir).read_bytes() if held_path(keys_dir).is_file() else None
        pem = current_list(s, keys_dir, renew=renew or before is None)
        listed = load_revocation_list(pem, load_commission_certificate(keys_dir))
        if pem != before:
            matchlog.append(s, station.flow.log, event="roll_crl_issued", operator=operator, outcome="issued",
                            details={"crl_number": listed.number, "revoked": len(listed.revoked),
                                     "next_update": listed.next_update.isoformat()})
        write_atomically(Path(out), pem, mode=0o644)  # inside the transaction: no log entry for a list not written
    _echo_json({"out": out, **listed.to_dict()})


@click.command("certificates")
@pass_ctx
@handle_errors
def certificates(ctx: Context) -> None:
    """The certificates this commission issued, oldest first: a line each (serial, subject, role, valid until,
    revoked or not), or with --json one document {"certificates": [...]}."""
    from station.packages.certificates import issued

    station = ctx.station()
    db_ready(station)
    with station.transaction() as s:
        rows = issued(s)
    if rows or json_wanted():
        emit({"certificates": rows}, [_certificate_line(row) for row in rows])
    else:
        say("no certificates issued yet")


def _certificate_line(row: dict) -> str:
    revoked = (f"REVOKED {row['revoked_at'][:19]} ({row['reason'] or 'unspecified'})" if row["revoked_at"]
               else "valid")
    return f"{row['serial']} {row['subject']:<16} {row['role']}, until {row['not_after'][:10]}: {revoked}"


@click.command("stations")
@pass_ctx
@handle_errors
def stations(ctx: Context) -> None:
    """The registered target stations (commission side), each with the role its log certificate was issued for (a
    polling station's or a registration centre's; null when none was issued): a line each, or with --json one JSON
    array."""
    from station.packages.certificates import certified_roles
    from station.packages.targets import list_targets

    station = ctx.station()
    db_ready(station)
    with station.transaction() as s:
        roles = certified_roles(s)
        targets = [{**target.to_dict(), "certified_as": roles.get(target.station_id)} for target in list_targets(s)]
    emit_rows(targets, lambda t: f"{t['station']} {t['polling_station']} {t['key_id']} "
                                 f"{t['certified_as'] or 'no certificate'}")


def _voter_status_change(ctx: Context, change: str, cnic: str, reason: str, operator: str) -> None:
    """``roll remove`` / ``roll reinstate``: the change under a new revision, its log entry, its JSON."""
    from station.audit import log as matchlog
    from station.roll.changes import reinstate_voter, remove_voter

    station = ctx.station()
    db_ready(station)
    with station.transaction() as s:
        result = (remove_voter if change == "remove" else reinstate_voter)(s, cnic, reason, operator=operator)
        matchlog.append(s, station.flow.log, event="roll_change", operator=operator, outcome=change,
                        cnic=result.cnic, details={"revision": result.revision, "reason": reason})
    _echo_json({"cnic": result.cnic, "removed" if change == "remove" else "reinstated": reason,
                "revision": result.revision, "polling_station": result.polling_station})


@click.command("remove")
@click.argument("cnic")
@click.option("--reason", type=click.Choice(["deceased", "blocked", "duplicate", "moved", "other"]), required=True)
@operator_option("commission")
@pass_ctx
@handle_errors
def remove(ctx: Context, cnic: str, reason: str, operator: str) -> None:
    """Take a voter off the roll under a new revision (commission side)."""
    _voter_status_change(ctx, "remove", cnic, reason, operator)


@click.command("reinstate")
@click.argument("cnic")
@click.option("--reason", type=click.Choice(["in_error", "already_voted", "other"]), required=True,
              help="in_error: removed by mistake; already_voted: the removal reached a station where the voter had "
                   "voted (its import refused: voted_voter_removed)")
@operator_option("commission")
@pass_ctx
@handle_errors
def reinstate(ctx: Context, cnic: str, reason: str, operator: str) -> None:
    """Put a removed voter back on the roll under a new revision (commission side): the next package keeps them."""
    _voter_status_change(ctx, "reinstate", cnic, reason, operator)


@click.command("correct")
@click.argument("cnic")
@click.option("--set", "assignments", multiple=True, required=True, metavar="FIELD=VALUE",
              help="a roll field and its corrected value (repeatable), e.g. --set address_en='House 4, ...'")
@operator_option("commission")
@pass_ctx
@handle_errors
def correct(ctx: Context, cnic: str, assignments: tuple[str, ...], operator: str) -> None:
    """Correct roll fields of a voter under a new revision (commission side); polling_station=CODE moves the voter."""
    from station.audit import log as matchlog
    from station.errors import InvalidInput
    from station.roll.changes import correct_voter, parse_field_value

    changes = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--set {item!r}: expected FIELD=VALUE")
        changes[name.strip()] = parse_field_value(name.strip(), value)
    station = ctx.station()
    db_ready(station)
    with station.transaction() as s:
        result = correct_voter(s, cnic, changes, operator=operator)
        matchlog.append(s, station.flow.log, event="roll_change", operator=operator, outcome="correct",
                        cnic=result.cnic, details={"revision": result.revision, "fields": list(result.fields)})
    _echo_json({"cnic": result.cnic, "corrected": list(result.fields), "revision": result.revision,
                "polling_station": result.polling_station, "serial_number": result.serial_number})


@click.command("package")
@click.option("--station", "station_id", default=None, help="the target station's id (see `station roll stations`)")
@click.option("--out", type=click.Path(), required=True, help="the package file; with --all, a folder")
@click.option("--base", type=POSITIVE_DB_INT, default=None, help="build a delta from this version")
@operator_option("commission")
@click.option("--all", "all_stations", is_flag=True,
              help="every registered station's full package, built in parallel on Dask (station/national/packages.py)")
@click.option("--scheduler", default="local", show_default=True, help="with --all: local, or tcp://HOST:PORT")
@click.option("--workers", type=click.IntRange(1, 512), default=2, show_default=True,
              help="with --all --scheduler local: worker processes")
@pass_ctx
@handle_errors
def package(ctx: Context, station_id: str | None, out: str, base: int | None, operator: str, all_stations: bool,
            scheduler: str, workers: int) -> None:
    """Build a signed package of the current roll revision for one station, encrypted for its key (commission
    side): the full roll of its polling station, or with --base the changes since that version. With --all, every
    registered station's full package into the folder --out (one file per station, <station>.pkg)."""
    from station.packages.certificates import current_list
    from station.packages.crypto import load_commission_key
    from station.packages.build import build_package

    station = ctx.station()
    db_ready(station)
    from station.audit.identity import load_election_voter_key

    signing_key = load_commission_key(station.config.keys_dir)
    voter_key = load_election_voter_key(station.config.keys_dir, create=True)  # made on first build if missing
    if all_stations:
        if station_id or base is not None:
            raise click.UsageError("--all builds every station's full package: no --station or --base")
        from station.national.cluster import dask_client
        from station.national.packages import package_every_station

        with station.transaction() as s:
            crl = current_list(s, station.config.keys_dir)  # re-signed when stale, once for every package
        with dask_client(scheduler, workers=workers) as client:
            _echo_json(package_every_station(client, station.config, transaction=station.transaction,
                                             log_signer=station.flow.log, out_dir=Path(out), operator=operator,
                                             voter_key=voter_key, crl=crl))
        return
    if station_id is None:
        raise click.UsageError("--station is required (or --all)")
    with station.transaction() as s:
        built = build_package(s, station.cipher, signing_key, station_id, base=base, log_signer=station.flow.log,
                              operator=operator, voter_key=voter_key,
                              revocation_list=current_list(s, station.config.keys_dir))  # re-signed when stale
        write_atomically(Path(out), built.data)  # inside the transaction: no record of a package that was never written
    _echo_json({**built.summary(), "out": out})


# --- a station ---
@click.command("station-key")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="where to write the public key")
@pass_ctx
@handle_errors
def station_key(ctx: Context, out: str) -> None:
    """Create this station's package key if missing (keys/package.key, 0600) and write its public half to FILE,
    for the commission's `station roll add-station`."""
    from station.packages.crypto import create_package_key, key_id, load_package_key, public_pem

    station = ctx.station()
    db_ready(station)
    created = create_package_key(station.config.keys_dir)
    public = load_package_key(station.config.keys_dir).public_key()
    write_atomically(Path(out), public_pem(public), mode=0o644)
    _echo_json({"station": station.config.station.id, "polling_station": station.config.station.polling_station,
                "key_id": key_id(public), "created": created, "out": out})


@click.command("trust")
@click.argument("key_file", type=click.Path(dir_okay=False))
@click.option("--replace", is_flag=True, help="replace a different commission key trusted before")
@operator_option("technician")
@pass_ctx
@handle_errors
def trust(ctx: Context, key_file: str, replace: bool, operator: str) -> None:
    """Trust the commission's public key (from `commission-init`) for roll packages: installed as
    keys/trusted-commission.pub (roll.commission_key, when set, names another file and takes precedence)."""
    from station.packages.verify import install_trust, trusted_key_path

    from station.audit import log as matchlog

    station = ctx.station()
    db_ready(station)
    pem = Path(key_file).read_bytes()
    signer = station.flow.log  # the log key first: a trust change is never left unlogged
    with station.transaction() as s:
        path, kid, changed = install_trust(station.config, pem, replace=replace)
        if changed:
            matchlog.append(s, signer, event="roll_trust", operator=operator,
                            outcome="replaced" if replace else "trusted", details={"key_id": kid})
    in_use = trusted_key_path(station.config)
    if in_use != path:
        click.echo(f"note: roll.commission_key names {in_use}; that key, not this one, checks packages", err=True)
    _echo_json({"key_id": kid, "installed": str(path), "changed": changed})


@click.command("import")
@click.argument("package_file", type=click.Path(dir_okay=False))
@operator_option("technician", help="who imports (written to the log)")
@pass_ctx
@handle_errors
def import_(ctx: Context, package_file: str, operator: str) -> None:
    """Verify a roll package (signature, target, version) and apply it in one transaction; on rejection nothing
    changes, the reason is printed on one line and the command exits 3 (docs/cli.md)."""
    station = ctx.station()
    db_ready(station)
    data = Path(package_file).read_bytes()
    with StderrProgress() as progress:
        result = station.packages.import_package(data, operator=operator, progress=progress)
    _echo_json(result.to_dict())


@click.command("hash")
@click.option("--polling-station", default=None, help="only this polling station's voters and its constituency's "
                                                      "scheme (what a package for it carries)")
@json_option
@pass_ctx
@handle_errors
def hash_(ctx: Context, polling_station: str | None, as_json: bool) -> None:
    """The SHA-256 of the roll's whole content: scheme, voters on the roll and their (decrypted) references."""
    from station.roll.store import get_meta
    from station.roll.content_hash import roll_content_hash

    station = ctx.station()
    db_ready(station)
    with station.transaction() as s:
        digest = roll_content_hash(s, station.cipher, polling_station=polling_station)
        version = get_meta(s, "roll_version") or get_meta(s, "roll_revision")
    if as_json:
        _echo_json({"roll_hash": digest, "polling_station": polling_station,
                    "version": int(version) if version else None})
    else:
        click.echo(digest)


@click.command("status")
@pass_ctx
@handle_errors
def status(ctx: Context) -> None:
    """The roll's version and package (station) or revision and registered stations (commission), as JSON."""
    from sqlalchemy import func, select

    from station.db.models import PackageTarget, Voter
    from station.roll.store import get_meta

    station = ctx.station()
    db_ready(station)
    with station.transaction() as s:
        counts = dict(s.execute(select(Voter.status, func.count()).group_by(Voter.status)).all())
        out = {"station": station.config.station.id, "voters": counts,
               "roll_version": int(get_meta(s, "roll_version") or 0),
               "roll_package_id": get_meta(s, "roll_package_id"),
               "roll_polling_station": get_meta(s, "roll_polling_station")}
        revision = get_meta(s, "roll_revision")
        if revision is not None:
            out["commission"] = {"revision": int(revision),
                                 "stations": s.scalar(select(func.count()).select_from(PackageTarget))}
    _echo_json(out)


@click.command("admit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@commission_cert_option("the registrations file")
@crl_option("the registrations file")
@self_signed_ok_option("a registrations file")
@operator_option("commission")
@pass_ctx
@handle_errors
def admit(ctx: Context, file: str, commission_cert: str | None, crl: str | None, self_signed_ok: bool,
          operator: str) -> None:
    """Commission: add a certified centre's registrations to the master roll (held when the 1:N search finds a
    candidate). The file's signer must be a centre certified by the commission certificate held here, and not
    revoked (the commission's own keys/commission.crl, or --crl)."""
    from cryptography import x509

    from station.packages.crypto import load_package_key
    from station.registration.dedup import SearchThresholds
    from station.registration.transfer import admit_registrations

    station = ctx.station()
    db_ready(station)
    config = station.config
    pem = held_commission_pem(commission_cert, config)
    anchor = x509.load_pem_x509_certificate(pem) if pem else None
    result = admit_registrations(
        Path(file).read_bytes(), transaction=station.transaction, cipher=station.cipher,
        matcher=station.fingerprint_matcher, thresholds=SearchThresholds.from_config(config),
        signer=station.log_signer, package_key=load_package_key(config.keys_dir),
        commission_cert=anchor, operator=operator, self_signed_ok=self_signed_ok,
        revocations=held_revocations(crl, pem, config))
    click.echo(json.dumps(result.to_dict()))


for _command in (commission_init, add_station, add_centre, revoke, crl, certificates, stations, remove, reinstate,
                 correct, package, admit, station_key, trust, import_, hash_, status):
    roll_group.add_command(_command)
