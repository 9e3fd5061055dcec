"""The test issuing authority (demo and tests only, never NADRA) and virtual CNIC cards for voters of a synthetic
roll, signed by it."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from drivers.card.base import CardHolder
from drivers.card.virtual import issue_card, make_test_issuer

from station.config import Config
from station.errors import ConfigError, InvalidInput
from station.polling.cards import TEST_ISSUER_CERT, TEST_ISSUER_DIR
from station.roll.records import VoterView
from station.security.files import create_private

TEST_ISSUER_NAME = "AJK Station Test Issuing Authority (NOT NADRA)"
TAMPERS = ("bad-signature", "altered-file", "clone")


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
        cert_path.write_bytes(cert_pem)
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


def virtual_card(config: Config, voter: VoterView, fingerprints: list[tuple[str, bytes]],
                 face_jpeg: bytes | None = None, tamper: str | None = None) -> bytes:
    if tamper is not None and tamper not in TAMPERS:
        raise InvalidInput(f"unknown tamper {tamper!r}; use one of: {', '.join(TAMPERS)}")
    issuer = test_issuer(config, create=True)
    return issue_card(holder_for(voter), face_jpeg=face_jpeg, fingerprints=fingerprints,
                      issuer_key=issuer.key_pem, issuer_cert=issuer.cert_pem, tamper=tamper)


