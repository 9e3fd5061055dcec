"""The roll's content hash (``station roll hash``): one SHA-256 over everything the commission put on the roll.

It covers the polling scheme (constituencies, polling stations), every voter on the roll (status ``active``: not
local registrations waiting for a package, ``pending``, nor voters taken off the roll, ``removed``) with all roll
fields, and each biometric reference as (CNIC, modality, position, format, quality, SHA-256 of the *decrypted*
template). Templates are encrypted with random nonces under each station's own key, so hashing plaintext is what
makes the digest equal on the commission's machine and on every station that imported the same roll. Local state
(ballots, ids, timestamps) is left out: voting does not change the roll's hash.

With ``polling_station`` the hash covers that polling station's voters and the scheme of its constituency (its
constituency and every polling station in it): what a roll package for that polling station carries. The commission
computes it for each package and the station checks it after applying the package, so the hash of a station that
imported the package for P equals the commission's ``station roll hash --polling-station P``.
"""
from __future__ import annotations

import hashlib
import json
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from station.errors import NotFound
from station.security.keys import NONCE_BYTES, TemplateCipher, TemplateDecryptError, template_context
from station.db.models import BiometricReference, Constituency, PollingStation, Voter

VOTER_FIELDS = ("cnic", "name_en", "name_ur", "relation", "relative_name_en", "relative_name_ur", "gender",
                "date_of_birth", "census_block", "family_number", "address_en", "address_ur", "serial_number",
                "booth", "status")
BATCH = 5000


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)  # one encoder, not one per line


def _line(fields: list) -> bytes:
    return _ENCODER.encode(fields).encode() + b"\n"


def roll_content_hash(session: Session, cipher: TemplateCipher, *, polling_station: str | None = None,
                      progress: Callable[[int], None] | None = None) -> str:
    """SHA-256 hex digest of the roll (or of one polling station's roll); ``progress(references_done)`` is called
    every few thousand references."""
    digest = hashlib.sha256(b"station-roll-content-v2\n")
    constituencies = select(Constituency.id, Constituency.code, Constituency.name_en, Constituency.name_ur,
                            Constituency.district).order_by(Constituency.code)
    stations = (select(PollingStation.code, Constituency.code, PollingStation.name_en, PollingStation.name_ur,
                       PollingStation.kind, PollingStation.booths)
                .join(Constituency, PollingStation.constituency_id == Constituency.id).order_by(PollingStation.code))
    on_roll = [Voter.status == "active"]
    if polling_station is not None:
        constituency_id = session.scalar(select(PollingStation.constituency_id)
                                         .where(PollingStation.code == polling_station))
        if constituency_id is None:
            raise NotFound(f"no polling station {polling_station!r} in this roll's polling scheme")
        constituencies = constituencies.where(Constituency.id == constituency_id)
        stations = stations.where(PollingStation.constituency_id == constituency_id)
        on_roll.append(PollingStation.code == polling_station)
    # Codes are sorted here, not by the database: a PostgreSQL collation may order "LA-10" and "LA1" differently
    # from SQLite, and the commission and its stations need not run the same database. (CNICs have one fixed shape,
    # so every collation orders them alike.)
    for _id, *row in sorted(session.execute(constituencies), key=lambda r: r[1]):
        digest.update(_line(["constituency", *row]))
    for row in sorted(session.execute(stations), key=lambda r: r[0]):
        digest.update(_line(["polling_station", *row]))
    voters = (select(PollingStation.code, *(getattr(Voter, f) for f in VOTER_FIELDS))
              .join(PollingStation, Voter.polling_station_id == PollingStation.id).where(*on_roll)
              .order_by(Voter.cnic).execution_options(yield_per=BATCH))
    for row in session.execute(voters):
        digest.update(_line(["voter", *row]))
    refs = (select(Voter.cnic, BiometricReference.modality, BiometricReference.position, BiometricReference.format,
                   BiometricReference.quality, BiometricReference.ciphertext)
            .join(Voter, BiometricReference.voter_id == Voter.id)
            .join(PollingStation, Voter.polling_station_id == PollingStation.id).where(*on_roll)
            .order_by(Voter.cnic, BiometricReference.modality, BiometricReference.position)
            .execution_options(yield_per=BATCH))
    aead = AESGCM(cipher.key)  # one AEAD object for the whole walk (TemplateCipher.decrypt makes one per call)
    for n, (cnic, modality, position, fmt, quality, blob) in enumerate(session.execute(refs), 1):
        blob = bytes(blob)
        context = template_context(cnic, modality, position)
        try:
            plain = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            raise TemplateDecryptError(f"template for {[cnic, modality, position]} does not decrypt under this "
                                       f"station's key") from None
        digest.update(_line(["reference", cnic, modality, position, fmt, quality, hashlib.sha256(plain).hexdigest()]))
        if progress is not None and n % BATCH == 0:
            progress(n)
    return digest.hexdigest()
