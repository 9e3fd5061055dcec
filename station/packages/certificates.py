"""The commission's record of the certificates it issues (table ``issued_certificates``) and its revocation list.

``record_issued`` keeps each certificate `roll add-station/add-centre --request` issues; ``revoke`` marks a
station's or centre's certificates (by its id) or one certificate (by its serial) revoked; ``issue_list`` signs the
next revocation list from every revoked row and installs it as keys/commission.crl, the file roll packages carry and
`roll crl` exports (docs/commission-pki.md). The list's number only grows: the next one is one above both the number
recorded in station_meta and the number of the file held, so a list lost or written twice never repeats a number.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from station.audit.identity import ROLE_CENTRE
from station.audit.revocation import (REASONS, Revocation, RevocationError, crl_number, held_path,
                                      issue_revocation_list, load_revocation_list, write_held)
from station.db.models import IssuedCertificate, utcnow
from station.errors import Conflict, InvalidInput, NotFound
from station.packages.crypto import load_commission_certificate, load_commission_key
from station.roll.store import get_meta, set_meta

CRL_NUMBER_KEY = "crl_number"  # station_meta: the number of the last list the commission signed


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite returns naive datetimes


def role_held(session: Session, subject: str, role: str) -> None:
    """Conflict when ``subject`` holds an unrevoked certificate of another role: one id, one role. A polling station's
    id certified again as a registration centre (or the reverse) would give it two valid keys, whose files the
    central database would take as both, each key replacing the other."""
    other = session.scalar(select(IssuedCertificate).where(IssuedCertificate.subject == subject,
                                                           IssuedCertificate.role != role,
                                                           IssuedCertificate.revoked_at.is_(None))
                           .order_by(IssuedCertificate.issued_at.desc()))
    if other is not None and _utc(other.not_after) > dt.datetime.now(dt.timezone.utc):
        what = "a registration centre" if other.role == ROLE_CENTRE else "a polling station"
        raise Conflict(f"{subject} is certified as {what} (certificate {other.serial}): one id holds one role; "
                       f"revoke that certificate first (`station roll revoke {subject}`) or give another id")


def certified_roles(session: Session) -> dict[str, str]:
    """Each subject's role, from its newest certificate that is not revoked (expired ones too: what it was)."""
    rows = session.execute(select(IssuedCertificate.subject, IssuedCertificate.role)
                           .where(IssuedCertificate.revoked_at.is_(None)).order_by(IssuedCertificate.issued_at))
    return dict(rows.all())


def record_issued(session: Session, cert: x509.Certificate, subject: str, role: str) -> None:
    role_held(session, subject, role)
    session.add(IssuedCertificate(serial=format(cert.serial_number, "x"), subject=subject, role=role,
                                  issued_at=utcnow(), not_after=cert.not_valid_after_utc))
    session.flush()


@dataclass(frozen=True)
class Revoked:
    """What one `roll revoke` did: the certificates it revoked (subject, role and revocation)."""

    subject: str
    role: str
    revocation: Revocation

    def to_dict(self) -> dict:
        return {"subject": self.subject, "role": self.role, **self.revocation.to_dict()}


def _serial(text: str) -> str | None:
    value = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        return format(int(value, 16), "x") if value else None
    except ValueError:
        return None


def revoke(session: Session, id_or_serial: str, reason: str, *, at: dt.datetime | None = None) -> list[Revoked]:
    """Revoke every unrevoked certificate issued to the station or centre ``id_or_serial``, or the one certificate of
    that serial (hex). NotFound when this commission issued no such certificate; Conflict when it is already revoked."""
    if reason not in REASONS:
        raise InvalidInput(f"unknown revocation reason {reason!r} (one of {', '.join(REASONS)})")
    rows = list(session.scalars(select(IssuedCertificate).where(IssuedCertificate.subject == id_or_serial)
                                .order_by(IssuedCertificate.issued_at).with_for_update()))
    serial = _serial(id_or_serial)
    if not rows and serial is not None:
        row = session.get(IssuedCertificate, serial, with_for_update=True)
        rows = [row] if row is not None else []
    if not rows:
        raise NotFound(f"{id_or_serial!r} names no station, centre or certificate serial this commission issued "
                       "(`station roll certificates` lists them)")
    open_rows = [r for r in rows if r.revoked_at is None]
    if not open_rows:
        raise Conflict(f"{id_or_serial!r}: every certificate it names is already revoked")
    at = at or utcnow()
    for row in open_rows:
        row.revoked_at, row.revocation_reason = at, reason
    session.flush()
    return [Revoked(r.subject, r.role, Revocation(int(r.serial, 16), _utc(at), reason)) for r in open_rows]


def revocations(session: Session) -> list[Revocation]:
    rows = session.scalars(select(IssuedCertificate).where(IssuedCertificate.revoked_at.is_not(None))
                           .order_by(IssuedCertificate.revoked_at, IssuedCertificate.serial))
    return [Revocation(int(r.serial, 16), _utc(r.revoked_at), r.revocation_reason or "unspecified") for r in rows]


def issued(session: Session) -> list[dict]:
    """Every certificate issued, oldest first (`station roll certificates`)."""
    rows = session.scalars(select(IssuedCertificate).order_by(IssuedCertificate.issued_at, IssuedCertificate.serial))
    return [{"serial": r.serial, "subject": r.subject, "role": r.role, "issued_at": _utc(r.issued_at).isoformat(),
             "not_after": _utc(r.not_after).isoformat(),
             "revoked_at": r.revoked_at and _utc(r.revoked_at).isoformat(), "reason": r.revocation_reason}
            for r in rows]


def issue_list(session: Session, keys_dir: Path, *, now: dt.datetime | None = None) -> bytes:
    """Sign the next revocation list (every revoked certificate) with the commission key and install it as
    keys/commission.crl (atomically, 0644); returns its PEM. Call it in the transaction that changed the rows."""
    held = held_path(keys_dir)
    held_number = crl_number(held.read_bytes()) if held.is_file() else None
    number = max(int(get_meta(session, CRL_NUMBER_KEY) or 0), held_number or 0) + 1
    pem = issue_revocation_list(load_commission_key(keys_dir), load_commission_certificate(keys_dir),
                                revocations(session), number, now=now)
    set_meta(session, CRL_NUMBER_KEY, str(number))
    session.flush()
    write_held(keys_dir, pem)
    return pem


def current_list(session: Session, keys_dir: Path, *, renew: bool = False) -> bytes | None:
    """The commission's revocation list as held (keys/commission.crl), signed anew when ``renew``, when it is stale
    or when it does not verify under the commission's certificate; None when the commission never made one and
    ``renew`` is not asked."""
    held = held_path(keys_dir)
    if not held.is_file() and not renew:
        return None
    if not renew:
        try:
            current = load_revocation_list(held.read_bytes(), load_commission_certificate(keys_dir),
                                           what=str(held))
            if not current.stale():
                return current.pem
        except RevocationError:
            pass
    return issue_list(session, keys_dir)
