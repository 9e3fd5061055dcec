"""``station identity request|install|show``: this station's log-signing certificate, issued by the commission
(docs/commission-pki.md).

1. at the station: ``station identity request --out ps001.csr`` (a PKCS#10 request signed by the log key itself);
2. at the commission: ``station roll add-station ID ... --request ps001.csr --out ps001.crt`` (or ``add-centre``);
3. at the station: ``station identity install ps001.crt --commission-cert commission.crt``: checked against the
   commission certificate the STATION holds (the option, else ``audit.commission_certificate``, else
   keys/commission.crt) before it replaces keys/station.crt; the commission certificate given is kept as
   keys/commission.crt. The anchor a home already holds is never replaced silently: a different certificate given
   with --commission-cert is refused unless --replace (as `roll trust --replace` for the packages' key); the same
   certificate again, or a first one on a home that holds none, is simply installed.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click

from station.cli import trust
from station.cli.common import Context, db_ready, handle_errors, not_initialised, operator_option, pass_ctx
from station.errors import InvalidInput, KeyMissing


@click.group("identity")
def identity() -> None:
    """This station's log-signing certificate from the commission."""


def _key_id(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@identity.command("request")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="where to write the request (PEM)")
@pass_ctx
@handle_errors
def request(ctx: Context, out: str) -> None:
    """Write a certificate request for this station's log key, for the commission's `roll add-station --request`."""
    from cryptography import x509

    from station.audit.identity import signing_request
    from station.security.files import write_atomically

    config = ctx.config()
    pem = signing_request(config.keys_dir, config.station.id)
    write_atomically(Path(out), pem, mode=0o644)
    click.echo(json.dumps({"station": config.station.id, "out": out,
                           "key_id": _key_id(x509.load_pem_x509_csr(pem).public_key())}))


def _load_cert(path: str, what: str):
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except ValueError:
        raise InvalidInput(f"{path}: {what} is not a PEM certificate") from None


@identity.command("install")
@click.argument("cert_file", type=click.Path(dir_okay=False))
@click.option("--commission-cert", type=click.Path(dir_okay=False), default=None,
              help="the commission's certificate (default: audit.commission_certificate, else keys/commission.crt)")
@click.option("--replace", is_flag=True,
              help="replace a different commission certificate this station holds with --commission-cert's")
@trust.crl_option("the certificate")
@operator_option("technician")
@pass_ctx
@handle_errors
def install(ctx: Context, cert_file: str, commission_cert: str | None, replace: bool, crl: str | None,
            operator: str) -> None:
    """Install the certificate the commission issued for this station's log key, after checking it against the
    commission certificate this station holds (never one that came with the file); a different commission
    certificate replaces the one held only with --replace."""
    from cryptography.hazmat.primitives import hashes, serialization

    from station.audit import log as matchlog
    from station.audit.bundle import COMMISSION_CERT_FILE, held_commission_certificate
    from station.audit.identity import (CERTIFICATE_FILE, certificate_role, certificate_station,
                                        certification_problem, load_signer)
    from station.security.files import write_atomically

    station = ctx.station()
    db_ready(station)
    config = station.config
    anchor_path = commission_cert or held_commission_certificate(config)
    if anchor_path is None:
        raise KeyMissing("no commission certificate held: give --commission-cert FILE (from the commission) or set "
                         "audit.commission_certificate")
    anchor = _load_cert(str(anchor_path), "the commission certificate")
    replaced = _held_anchor_replaced(config, anchor, commission_cert, replace) if commission_cert else None
    cert = _load_cert(cert_file, "the station certificate")
    signer = load_signer(config.keys_dir, config.station.id)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    if certificate_station(cert) != config.station.id:
        raise InvalidInput(f"{cert_file} is for station {certificate_station(cert)!r}, not {config.station.id!r}")
    if cert.public_key().public_bytes(*raw) != signer.signing_key.public_key().public_bytes(*raw):
        raise InvalidInput(f"{cert_file} is not for this station's log key (request it with `station identity "
                           "request`)")
    revocations = trust.held_revocations(crl, anchor.public_bytes(serialization.Encoding.PEM), config)
    problem = certification_problem(cert, anchor, revoked=revocations)
    if problem:
        raise InvalidInput(f"{cert_file}: {problem}")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    with station.transaction() as s:
        write_atomically(config.keys_dir / CERTIFICATE_FILE, pem)
        if commission_cert:
            write_atomically(config.keys_dir / COMMISSION_CERT_FILE, anchor.public_bytes(serialization.Encoding.PEM),
                             mode=0o644)
        matchlog.append(s, station.log_signer, event="identity_installed", operator=operator, outcome="certified",
                        details={"role": certificate_role(cert), "serial": format(cert.serial_number, "x"),
                                 "issuer": anchor.subject.rfc4514_string(),
                                 "certificate_sha256": hashlib.sha256(pem).hexdigest(),
                                 **({"commission_certificate_replaced": replaced,
                                     "commission_certificate_sha256": anchor.fingerprint(hashes.SHA256()).hex()}
                                    if replaced else {})})
    held = held_commission_certificate(config)
    if commission_cert and held is not None and held != config.keys_dir / COMMISSION_CERT_FILE:
        click.echo(f"note: audit.commission_certificate names {held}; that certificate, not {commission_cert}, is "
                   "this station's anchor for every other check", err=True)
    click.echo(json.dumps({"station": config.station.id, "installed": str(config.keys_dir / CERTIFICATE_FILE),
                           "role": certificate_role(cert), "issuer": anchor.subject.rfc4514_string(),
                           "not_after": cert.not_valid_after_utc.isoformat()}))


def _held_anchor_replaced(config, given, given_path: str, replace: bool) -> str | None:
    """The SHA-256 fingerprint (hex) of the commission certificate this home holds when ``given`` is a different one
    and ``replace`` allows replacing it; None when the home holds none or the same. Conflict (one line) when it
    holds a different one and ``replace`` is not given: the anchor of every verification at this home is never
    changed by an install that only meant to add the station's certificate."""
    from cryptography.hazmat.primitives import hashes

    from station.audit.bundle import COMMISSION_CERT_FILE, held_commission_certificate
    from station.errors import Conflict

    sha256 = hashes.SHA256()
    wanted = given.fingerprint(sha256).hex()
    # the anchor in force (audit.commission_certificate, else keys/commission.crt) and the file install writes
    for held_path in dict.fromkeys(filter(None, (held_commission_certificate(config),
                                                 config.keys_dir / COMMISSION_CERT_FILE))):
        if not held_path.is_file():
            continue  # a fresh home: the first commission certificate is installed
        try:
            held = _load_cert(str(held_path), "the commission certificate held").fingerprint(sha256).hex()
        except InvalidInput:
            held = "unreadable"  # not a certificate: replaced only with --replace too
        if held == wanted:
            continue
        if not replace:
            raise Conflict(f"this station already holds commission certificate {held[:16]} ({held_path}); "
                           f"{given_path} is a different one ({wanted[:16]}): use --replace to make it this "
                           "station's trust anchor")
        return held
    return None


@identity.command("show")
@pass_ctx
@handle_errors
def show(ctx: Context) -> None:
    """This station's certificate: who issued it, and whether the commission certificate held here certifies it."""
    from station.audit.bundle import held_commission_certificate
    from station.audit.identity import (CERTIFICATE_FILE, certificate_role, certificate_station,
                                        certification_problem)

    from cryptography.hazmat.primitives import serialization

    config = ctx.config()
    own = config.keys_dir / CERTIFICATE_FILE
    if not own.exists():
        raise not_initialised(f"no station certificate {own}")
    cert = _load_cert(str(own), "the station certificate")
    held = held_commission_certificate(config)
    problem = None
    if held:
        anchor = _load_cert(str(held), "the commission certificate")
        try:  # the revocation list held here (keys/commission.crl), when there is one
            revocations = trust.held_revocations(None, anchor.public_bytes(serialization.Encoding.PEM), config)
            problem = certification_problem(cert, anchor, revoked=revocations)
        except InvalidInput as exc:
            problem = str(exc)
    click.echo(json.dumps({"station": certificate_station(cert), "role": certificate_role(cert),
                           "self_signed": cert.issuer == cert.subject, "issuer": cert.issuer.rfc4514_string(),
                           "key_id": _key_id(cert.public_key()), "commission_certificate": str(held) if held else None,
                           "certified": None if held is None else problem is None, "problem": problem}))
