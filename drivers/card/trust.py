"""Trusted card issuers: the certificates whose keys may sign a card's security object (the station's trust list)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class TrustedIssuer:
    subject: str  # RFC 4514, e.g. "CN=NADRA Test Issuer"
    certificate: x509.Certificate


def load_trusted_issuers(items: Iterable[object]) -> tuple[TrustedIssuer, ...]:
    """Certificates given as PEM or DER bytes (or x509.Certificate / TrustedIssuer); ValueError names a bad one."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, TrustedIssuer):
            out.append(item)
            continue
        if isinstance(item, x509.Certificate):
            cert = item
        elif isinstance(item, (bytes, bytearray, memoryview)):
            data = bytes(item)
            try:
                cert = (x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----BEGIN")
                        else x509.load_der_x509_certificate(data))
            except ValueError as exc:
                raise ValueError(f"trusted issuer #{i + 1} is not an X.509 certificate: {exc}") from None
        else:
            raise ValueError(f"trusted issuer #{i + 1} must be certificate bytes, got {type(item).__name__}")
        out.append(TrustedIssuer(subject=cert.subject.rfc4514_string(), certificate=cert))
    return tuple(out)


def certificate_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
