"""The verifier's trust anchor on the command line, for every command that checks a signed file (an audit bundle, a
backup, a central export, a registrations file, a checkpoint or proof): the commission certificate the VERIFIER holds
(``--commission-cert FILE``, else ``audit.commission_certificate``, else the home's keys/commission.crt), never one
found in the file being checked. ``--self-signed-ok`` (demos only) accepts an intact file whose signer is then not
authenticated. ``--crl FILE`` (else the home's keys/commission.crl) is the commission's revocation list, checked under
that same certificate: a signer it names is refused; a stale list is said on standard error."""
from __future__ import annotations

from pathlib import Path

import click

from station.errors import InvalidInput


def commission_cert_option(what: str):
    """``--commission-cert FILE``: the certificate that must have issued ``what``'s signer."""
    return click.option(
        "--commission-cert", type=click.Path(dir_okay=False), default=None,
        help=f"the commission's certificate that must have issued the certificate of {what}'s signer (default: "
             "audit.commission_certificate, else keys/commission.crt); one inside the file is never trusted")


def crl_option(what: str):
    """``--crl FILE``: the commission's revocation list; every command with ``--commission-cert`` has it too."""
    return click.option(
        "--crl", type=click.Path(dir_okay=False), default=None,
        help=f"the commission's revocation list (`station roll crl`): {what}'s signer must not be on it (default: "
             "keys/commission.crl of the home, when there is one); checked under the commission certificate")


def self_signed_ok_option(what: str):
    return click.option(
        "--self-signed-ok", is_flag=True,
        help=f"demos only: with no commission certificate, accept {what} whose signer is not authenticated")


def held_commission_pem(option: str | None, config) -> bytes | None:
    """The PEM of the commission certificate the verifier holds (``option``, else the configuration's; ``config`` may
    be None when the command runs with no station), checked to be a commission certificate; None when none is given
    or held. InvalidInput naming the file when it cannot be read or is not a commission certificate."""
    from station.audit.bundle import BundleError, held_commission_certificate, load_commission_pem
    from station.audit.identity import commission_anchor_problem

    path = option
    if not path and config is not None:
        held = held_commission_certificate(config)
        path = str(held) if held else None
    if not path:
        return None
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"commission certificate {path}: {exc.strerror or exc}") from None
    try:
        problem = commission_anchor_problem(load_commission_pem(pem, f"commission certificate {path}"))
    except BundleError as exc:
        raise InvalidInput(str(exc)) from None
    if problem:
        raise InvalidInput(f"{path}: {problem}")
    return pem


def anchor_or_self_signed(pem: bytes | None, self_signed_ok: bool) -> bytes | None:
    """``pem``; with none, None when ``--self-signed-ok`` was given, else InvalidInput saying why a signer cannot be
    authenticated."""
    from station.audit.identity import UNAUTHENTICATED

    if pem is None and not self_signed_ok:
        raise InvalidInput(UNAUTHENTICATED)
    return pem


def held_revocations(option: str | None, commission_pem: bytes | None, config):
    """The commission's revocation list the verifier holds (``option``, else keys/commission.crl of ``config``'s home
    when there is one; ``config`` may be None), verified under ``commission_pem``; None when there is none, or no
    certificate to check one under (then a list given with --crl is refused: it cannot be checked). A stale list is
    a warning line on standard error. InvalidInput naming the file when it is unreadable or not the commission's."""
    from cryptography import x509

    from station.audit.revocation import RevocationError, held_path, load_revocation_list

    path = option
    if not path and config is not None and held_path(config.keys_dir).is_file():
        path = str(held_path(config.keys_dir))
    if not path:
        return None
    if commission_pem is None:
        if option:
            raise InvalidInput(f"--crl {option}: a revocation list is checked under the commission certificate: give "
                               "--commission-cert FILE too")
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"revocation list {path}: {exc.strerror or exc}") from None
    try:
        listed = load_revocation_list(data, x509.load_pem_x509_certificate(commission_pem),
                                      what=f"revocation list {path}")
    except RevocationError as exc:
        raise InvalidInput(str(exc)) from None
    if listed.stale():
        click.echo(f"warning: {listed.stale_warning(f'revocation list {path}')}", err=True)
    return listed
