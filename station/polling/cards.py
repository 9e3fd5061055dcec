"""CNIC cards on the station side: the trust list, reading and checking the card in the reader, and the policy
applied to a card that was read and verified. (Test issuer and virtual cards: ``station.simulation.cards``.)"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from drivers.card.base import CardRead
from drivers.card.errors import CardError
from drivers.errors import DeviceError

from station.config import CardSection
from station.devices.opener import DeviceOpener
from station.errors import CardRejected, ConfigError, DeviceUnavailable

# Where `station init` puts the test issuing authority's certificate when card.test_issuer is on (demo and tests).
TEST_ISSUER_DIR = "issuer"
TEST_ISSUER_CERT = "test-issuer.pem"


def trusted_issuers(settings: CardSection, home: Path) -> list[bytes]:
    """Certificates the station accepts on a card's security object."""
    out = []
    for name in settings.trusted_issuers:
        path = Path(name) if Path(name).is_absolute() else home / name
        try:
            out.append(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"card.trusted_issuers: cannot read {path}: {exc.strerror}") from None
    if settings.test_issuer:
        cert = home / TEST_ISSUER_DIR / TEST_ISSUER_CERT
        if not cert.is_file():
            raise ConfigError(f"no test card issuer in {cert.parent}: run `station init`")
        out.append(cert.read_bytes())
    return out


def card_warnings(read: CardRead, settings: CardSection, today: dt.date | None = None) -> list[str]:
    """Policy on a verified card: expiry is flagged, or refused when the configuration says so."""
    today = today or dt.date.today()
    if read.holder.expiry_date < today:
        message = f"CNIC card expired on {read.holder.expiry_date.isoformat()}"
        if settings.refuse_expired:
            raise CardRejected(message)
        return [message]
    return []


class CardReader:
    """The configured card reader, with the trust list and timeout of ``[card]``: ``read()`` waits for a card, reads
    it and verifies it (passive and active authentication)."""

    def __init__(self, devices: DeviceOpener, settings: CardSection, *, home: Path, reader_name: str = "") -> None:
        self.devices = devices
        self.settings = settings
        self.home = home
        self.reader_name = reader_name

    def device_id(self) -> str:
        return self.devices.open("card").info().device_id

    def read_checked(self) -> CardRead:
        """The read with the driver's own errors, one per failed check (the technician's card report names them)."""
        return self.devices.open("card").read_card(trusted_issuers=trusted_issuers(self.settings, self.home),
                                                   timeout_s=self.settings.read_timeout_s,
                                                   reader=self.reader_name or None)

    def read(self) -> CardRead:
        try:
            return self.read_checked()
        except CardError as exc:
            raise CardRejected(str(exc)) from None
        except DeviceError as exc:
            raise DeviceUnavailable(str(exc)) from None

    def warnings(self, read: CardRead, today: dt.date | None = None) -> list[str]:
        return card_warnings(read, self.settings, today)
