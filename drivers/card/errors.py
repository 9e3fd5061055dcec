"""The card readers' error tree (all are ``drivers.errors.DeviceError``; the message is for the operator).

    DeviceError
     +-- CardError              the card was read but cannot be trusted or understood
          +-- UnsupportedCard   not a card of this profile (SELECT of the application failed)
          +-- MalformedCard     bad TLV, bad lengths or an unexpected status word (the SW is named)
          +-- UnknownIssuer     the security object is signed by an issuer outside the trusted list
          +-- BadSignature      the security object's signature does not verify under the trusted issuer
          +-- AlteredFile       a data group's hash differs from the signed one (``.data_group`` names it)
          +-- CloneSuspected    active authentication failed: the chip does not hold the key of the card it copies
          +-- CardRemoved       the card was pulled out during the read

Device-level failures (no card before the timeout, reader gone, PC/SC service down) stay in the
``drivers.errors`` classes: CaptureTimeout, DeviceDisconnected, DeviceNotAvailable.
"""
from __future__ import annotations

from ..errors import DeviceError


class CardError(DeviceError):
    """Root of every failure of one card read."""


class UnsupportedCard(CardError):
    pass


class MalformedCard(CardError):
    pass


class UnknownIssuer(CardError):
    pass


class BadSignature(CardError):
    pass


class AlteredFile(CardError):
    def __init__(self, data_group: str, message: str | None = None) -> None:
        super().__init__(message or f"card file {data_group} was altered after issue (hash mismatch): "
                                    "do not accept this card, refer to the presiding officer")
        self.data_group = data_group


class CloneSuspected(CardError):
    pass


class CardRemoved(CardError):
    pass
