"""The test issuing authority (demo and tests only, never NADRA) and virtual CNIC cards for voters of a synthetic
roll, signed by it."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from drivers.card.base import CardHolder
from drivers.card.profiles.cnic_v1 import FINGER_CODE
from drivers.card.virtual import issue_card, make_test_issuer
from matching import iso19794
from matching.errors import MatchingError

from station.config import Config
from station.errors import ConfigError, InvalidInput
from station.polling.cards import TEST_ISSUER_CERT, TEST_ISSUER_DIR
from station.roll.records import VoterView
from station.security.files import create_private, write_atomically

TEST_ISSUER_NAME = "AJK Station Test Issuing Authority (NOT NADRA)"
TAMPERS = ("bad-signature", "altered-file", "clone")
# The roll's text fields that every card carries in DG1 (docs/card-profile.md: each field exactly once, none empty)
# although a registration may leave them blank (Demographics.REQUIRED): a voter without one gets no card.
CARD_NAMES = {"name_en": "English name", "name_ur": "Urdu name", "relative_name_en": "relative's English name",
              "relative_name_ur": "relative's Urdu name"}


@dataclass(frozen=True)
class TestIssuer:
    key_pem: bytes
    cert_pem: bytes


def test_issuer(config: Config, *, create: bool = False) -> TestIssuer:
    """The test issuing authority kept in STATION_HOME/issuer (created on request); refused when the profile
    does not enable it, so a production station never trusts it by accident."""
    if not config.card.test_issuer:
        raise ConfigError("the test card issuer is disabled in this profile (card.test_issuer = false)")
    folder = config.home / TEST_ISSUER_DIR
    key_path, cert_path = folder / "test-issuer.key", folder / TEST_ISSUER_CERT
    if not key_path.exists():
        if not create:
            raise ConfigError(f"no test card issuer in {folder}: run `station init`")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_pem, cert_pem = make_test_issuer(TEST_ISSUER_NAME)
        create_private(key_path, key_pem)
        write_atomically(cert_path, cert_pem)
    return TestIssuer(key_path.read_bytes(), cert_path.read_bytes())


def holder_for(voter: VoterView) -> CardHolder:
    """Card data of a voter of a synthetic roll (issue and expiry dates and card number derived deterministically)."""
    digest = int(hashlib.sha256(voter.cnic.encode()).hexdigest(), 16)
    issued = dt.date(2019, 1, 1) + dt.timedelta(days=digest % 2000)
    return CardHolder(
        cnic=voter.cnic, name_en=voter.name_en, name_ur=voter.name_ur, relative_name_en=voter.relative_name_en,
        relative_name_ur=voter.relative_name_ur, relation=voter.relation,
        date_of_birth=dt.date.fromisoformat(voter.date_of_birth), gender=voter.gender, issue_date=issued,
        expiry_date=issued.replace(year=issued.year + 10), card_number=f"AJK{digest % 10**9:09d}",
    )


def card_record(finger: str, template: bytes, ppi: int = 500) -> bytes:
    """What DG3 holds for one finger: an ISO/IEC 19794-2:2005 record in the standard's layout with the finger's
    position code (drivers/card/profiles/cnic_v1.py), made from a roll reference: an ISO record of either layout
    (matching/iso19794.py), or a ``leader_mcc_bozorth3`` template (its mindtct record: the NIST extractor's minutiae,
    the exchange record every engine reads)."""
    template = bytes(template)
    try:
        if template[:4] == b"VVFP":
            from matching.fingerprint_pipeline import LeaderFusionMatcher

            template = LeaderFusionMatcher().decode(template).mindtct_iso
        return iso19794.to_standard(template, finger_position=FINGER_CODE[finger], ppi=ppi)
    except (MatchingError, ValueError) as exc:
        raise InvalidInput(f"the {finger} reference cannot go on a card: {exc}") from None


def virtual_card(config: Config, voter: VoterView, fingerprints: list[tuple[str, bytes]],
                 face_jpeg: bytes | None = None, tamper: str | None = None) -> bytes:
    """A card for ``voter`` signed by the test issuer; ``fingerprints`` are (finger, roll reference) pairs, written to
    DG3 as standard ISO/IEC 19794-2:2005 records (``card_record``)."""
    if tamper is not None and tamper not in TAMPERS:
        raise InvalidInput(f"unknown tamper {tamper!r}; use one of: {', '.join(TAMPERS)}")
    for field, label in CARD_NAMES.items():
        if not getattr(voter, field):
            raise InvalidInput(f"no card can be issued for {voter.cnic}: the roll entry has no {label} ({field}), "
                               "which every CNIC card carries (DG1), so the card reader would refuse the card; "
                               "verify this voter by the typed CNIC")
    issuer = test_issuer(config, create=True)
    ppi = config.fingerprint.ppi
    fingerprints = [(finger, card_record(finger, template, ppi)) for finger, template in fingerprints]
    try:
        return issue_card(holder_for(voter), face_jpeg=face_jpeg, fingerprints=fingerprints,
                          issuer_key=issuer.key_pem, issuer_cert=issuer.cert_pem, tamper=tamper)
    except ValueError as exc:  # holder data or a record the card reader would refuse: no card is issued
        raise InvalidInput(f"no card can be issued for {voter.cnic}: {exc}") from None


