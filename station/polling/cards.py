"""CNIC cards on the station side: the trust list, the test issuing authority (demo and tests only), virtual cards
for voters of a synthetic roll, and the policy applied to a card that was read and verified."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from drivers.card.base import CardHolder, CardRead
from drivers.card.virtual import issue_card, make_test_issuer

from station.config import Config
from station.errors import CardRejected, ConfigError, InvalidInput
from station.polling.views import VoterView

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
    folder = config.home / "issuer"
    key_path, cert_path = folder / "test-issuer.key", folder / "test-issuer.pem"
    if not key_path.exists():
        if not create:
            raise ConfigError(f"no test card issuer in {folder}: run `station init`")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_pem, cert_pem = make_test_issuer(TEST_ISSUER_NAME)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
        cert_path.write_bytes(cert_pem)
    return TestIssuer(key_path.read_bytes(), cert_path.read_bytes())


def trusted_issuers(config: Config) -> list[bytes]:
    """Certificates the station accepts on a card's security object."""
    out = []
    for name in config.card.trusted_issuers:
        path = Path(name) if Path(name).is_absolute() else config.home / name
        try:
            out.append(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"card.trusted_issuers: cannot read {path}: {exc.strerror}") from None
    if config.card.test_issuer:
        out.append(test_issuer(config).cert_pem)
    return out


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


def card_warnings(read: CardRead, config: Config, today: dt.date | None = None) -> list[str]:
    """Policy on a verified card: expiry is flagged, or refused when the configuration says so."""
    today = today or dt.date.today()
    if read.holder.expiry_date < today:
        message = f"CNIC card expired on {read.holder.expiry_date.isoformat()}"
        if config.card.refuse_expired:
            raise CardRejected(message)
        return [message]
    return []
