"""A throw-away PKI for the simulated ID authority (tests and demos only; a real authority issues its own): a CA,
a TLS server certificate for localhost, a TLS client certificate for the station, all ECDSA P-256. Private keys are
written with mode 0600, never overwritten."""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from station.security.files import create_private

VALID_DAYS = 3650


def write_private_key(path: Path, key) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    create_private(path, data)


def read_private_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), None)


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Simulated ID authority (test only)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS)))


def make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(common_name), _name(common_name), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca_key, ca_cert: x509.Certificate, common_name: str, *, server: bool,
          hosts: tuple[str, ...] = ()) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A TLS leaf certificate signed by the CA: a server one naming ``hosts`` (DNS names or IP addresses), or a
    client one."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(_name(common_name), ca_cert.subject, key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                     else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def ensure_ca(folder: Path, stem: str, common_name: str):
    """Load ``stem.key``/``stem.crt`` from ``folder``, creating them on first use."""
    key_path, cert_path = folder / f"{stem}.key", folder / f"{stem}.crt"
    if not key_path.exists():
        key, cert = make_ca(common_name)
        write_private_key(key_path, key)
        write_certificate(cert_path, cert)
    return read_private_key(key_path), x509.load_pem_x509_certificate(cert_path.read_bytes())


def ensure_leaf(folder: Path, stem: str, ca_key, ca_cert, common_name: str, *, server: bool,
                hosts: tuple[str, ...] = ()) -> tuple[Path, Path]:
    key_path, cert_path = folder / f"{stem}.key", folder / f"{stem}.crt"
    if not key_path.exists():
        key, cert = issue(ca_key, ca_cert, common_name, server=server, hosts=hosts)
        write_private_key(key_path, key)
        write_certificate(cert_path, cert)
    return cert_path, key_path


SIGNING_KEY_FILE = "authority-signing.key"
PUBLIC_KEY_FILE = "authority-public.pem"


@dataclass(frozen=True)
class SimulatorFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    authority_public_key: Path
    rogue_cert: Path
    rogue_key: Path


def prepare_state(state_dir: Path) -> tuple[SimulatorFiles, Ed25519PrivateKey]:
    """Create the CA, certificates and signing key on first use; load them afterwards."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    ca_key, ca_cert = ensure_ca(state_dir, "ca", "Simulated ID authority CA")
    server_cert, server_key = ensure_leaf(state_dir, "server", ca_key, ca_cert, "localhost", server=True,
                                              hosts=("localhost", "127.0.0.1"))
    client_cert, client_key = ensure_leaf(state_dir, "client", ca_key, ca_cert, "voter-station", server=False)
    rogue_key, rogue_ca = ensure_ca(state_dir, "rogue-ca", "Untrusted CA")
    rogue_cert, rogue_server_key = ensure_leaf(state_dir, "rogue-server", rogue_key, rogue_ca, "localhost",
                                                   server=True, hosts=("localhost", "127.0.0.1"))
    key_path = state_dir / SIGNING_KEY_FILE
    if not key_path.exists():
        write_private_key(key_path, Ed25519PrivateKey.generate())
    signing_key = read_private_key(key_path)
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise ValueError(f"{key_path} is not an Ed25519 key")
    public_path = state_dir / PUBLIC_KEY_FILE
    public_path.write_bytes(signing_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return SimulatorFiles(ca_cert=state_dir / "ca.crt", server_cert=server_cert, server_key=server_key,
                          client_cert=client_cert, client_key=client_key, authority_public_key=public_path,
                          rogue_cert=rogue_cert, rogue_key=rogue_server_key), signing_key
