"""The station's own TLS: a station CA (made by ``station init``) and the server certificate it issues, so laptops on
the booth's LAN reach the registrar UI over HTTPS after trusting one CA certificate.

Files in STATION_HOME/keys (mode 0700; every file 0600)::

    tls-ca.key       ECDSA P-256              the station CA's key; never leaves the station; sealed with the other
                                              keys when ``keys.protection`` says so (``keystore``)
    tls-ca.crt       the CA certificate       what other laptops import (`station tls export-ca --out FILE`)
    tls-server.key   ECDSA P-256              the HTTPS server's key; never sealed: HTTPS must work before the keys
                                              are unlocked (the unlock page is served over it)
    tls-server.crt   signed by the CA         DNS names (hostname, FQDN, localhost, extras) and IP addresses

The CA certificate carries critical X.509 name constraints: it may only vouch for the station's own DNS names (those
of ``station_hostnames`` when the CA was made, with ``tls.hostnames``) and for addresses on loopback, private and
link-local networks (plus any other address the station had or was configured with then). A laptop that trusts the
CA therefore trusts it for nothing on the Internet, even if the CA key were stolen. A server certificate is issued
only for the names and addresses the constraints permit (the others are left out, with a warning).

The CA stays the same for the station's life (ten years) while the server certificate is re-issued whenever the
station's names or LAN addresses change (`serving` does it at start), so a laptop that trusted the CA once keeps
trusting the station after a DHCP lease changes. While the keys are locked (``keys.protection = "passphrase"``) the
server starts with the certificate it has, even when a new name is missing from it: issuing needs the CA's key.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from station.security.files import write_atomically
from station.security.keystore import KeysLocked, key_store
from station.errors import KeyMissing, StationError

log = logging.getLogger(__name__)

CA_KEY_FILE = "tls-ca.key"
CA_CERT_FILE = "tls-ca.crt"
SERVER_KEY_FILE = "tls-server.key"
SERVER_CERT_FILE = "tls-server.crt"
CA_DAYS = 3650
RENEW_BEFORE_DAYS = 30  # a server certificate expiring sooner than this is re-issued at start
MAX_SERVER_DAYS = 825  # what browsers accept for a certificate under a locally trusted CA


class TlsError(StationError):
    """A TLS file is missing, unreadable or does not fit (wrong CA, bad name or address)."""


@dataclass(frozen=True)
class ServerCertificate:
    cert_file: Path
    key_file: Path
    ca_file: Path
    dns_names: tuple[str, ...]
    ips: tuple[str, ...]
    not_after: dt.datetime
    issued_now: bool  # False when the existing certificate already covered every name and address


@dataclass(frozen=True)
class CaInfo:
    cert_file: Path
    subject: str
    sha256: str  # fingerprint of the DER certificate, "AB:CD:..." as browsers and openssl show it
    not_after: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _write_cert(path: Path, data: bytes) -> None:
    write_atomically(path, data, mode=0o600)  # public, but the station's files are its user's alone


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


# Networks a station's LAN address comes from (a DHCP lease may change within them); its CA may vouch for these only.
PERMITTED_NETWORKS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                      "::1/128", "fc00::/7", "fe80::/10")


def name_constraints(hostnames: Iterable[str] | None = None, ips: Iterable[str] = ()) -> x509.NameConstraints:
    """The permitted subtrees of the station CA: this machine's DNS names (``station_hostnames``) and ``hostnames``, the
    private networks, and any other address given or found on this machine, alone."""
    names = station_hostnames(hostnames or ())
    networks = [ipaddress.ip_network(n) for n in PERMITTED_NETWORKS]
    for address in _parse_ips([*local_addresses(), *ips]):
        if not any(address in net for net in networks if net.version == address.version):
            networks.append(ipaddress.ip_network(address))
    return x509.NameConstraints(permitted_subtrees=[*(x509.DNSName(n) for n in names),
                                                    *(x509.IPAddress(net) for net in networks)],
                                excluded_subtrees=None)


def _permits(constraints: x509.NameConstraints | None, name) -> bool:
    if constraints is None:  # a CA made before name constraints: no limit
        return True
    permitted = constraints.permitted_subtrees or []
    if isinstance(name, str):
        bases = [t.value.lower().lstrip(".") for t in permitted if isinstance(t, x509.DNSName)]
        return not bases or any(name == b or name.endswith("." + b) for b in bases)
    networks = [t.value for t in permitted if isinstance(t, x509.IPAddress)]
    return any(name.version == net.version and name in net for net in networks)


def ca_name_constraints(cert: x509.Certificate) -> x509.NameConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


def create_station_ca(keys_dir: Path, station_id: str, *, hostnames: Iterable[str] | None = None,
                      ips: Iterable[str] = ()) -> bool:
    """Create the station CA (ECDSA P-256 key, mode 0600, and a self-signed CA certificate valid ten years, name
    constrained to this machine's names plus ``hostnames`` and to the private networks plus ``ips``: see
    ``name_constraints``) unless it exists; True if it was created now."""
    keys_dir = Path(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    key_path, cert_path = keys_dir / CA_KEY_FILE, keys_dir / CA_CERT_FILE
    if key_path.exists() and cert_path.exists():
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{station_id} station CA"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "voter-station TLS")])
    now = _now()
    public = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(name_constraints(hostnames, ips), critical=True)  # RFC 5280: MUST be critical
            .sign(key, hashes.SHA256()))
    key_store(keys_dir).write(CA_KEY_FILE, _key_pem(key))
    _write_cert(cert_path, _cert_pem(cert))
    # A server certificate of an earlier CA no longer chains: remove it so the next start issues a new one.
    (keys_dir / SERVER_CERT_FILE).unlink(missing_ok=True)
    log.info("station CA created for %s (%s)", station_id, fingerprint(cert))
    return True


def _read_ca(keys_dir: Path, read) -> object:
    try:
        return read()
    except FileNotFoundError as exc:
        raise KeyMissing(f"no station TLS CA ({exc.filename}): run `station init` first") from None
    except PermissionError as exc:
        raise KeyMissing(f"cannot read {exc.filename}: run the command as the station's user") from None
    except ValueError:
        raise KeyMissing(f"the station TLS CA in {keys_dir} is damaged (not PEM)") from None


def _load_ca_cert(keys_dir: Path) -> x509.Certificate:
    return _read_ca(keys_dir, lambda: x509.load_pem_x509_certificate((keys_dir / CA_CERT_FILE).read_bytes()))


def _load_ca_key(keys_dir: Path, cert: x509.Certificate) -> ec.EllipticCurvePrivateKey:
    key_path = keys_dir / CA_KEY_FILE
    key = _read_ca(keys_dir, lambda: serialization.load_pem_private_key(key_store(keys_dir).read(CA_KEY_FILE), None))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyMissing(f"{key_path} is not an ECDSA key")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        raise KeyMissing(f"{key_path} does not belong to {keys_dir / CA_CERT_FILE}")
    return key


def ca_info(keys_dir: Path) -> CaInfo:
    path = Path(keys_dir) / CA_CERT_FILE
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise KeyMissing(f"no station TLS CA ({path}): run `station init` first") from None
    except ValueError:
        raise KeyMissing(f"{path} is not a PEM certificate") from None
    return CaInfo(path, cert.subject.rfc4514_string(), fingerprint(cert), cert.not_valid_after_utc)


def export_ca(keys_dir: Path, out: Path) -> CaInfo:
    """Copy the CA certificate (public) to ``out`` for other laptops to import; returns its fingerprint, which the
    person importing it compares with the one the station shows."""
    info = ca_info(keys_dir)
    Path(out).write_bytes(info.cert_file.read_bytes())
    return info


def _parse_ips(ips: Iterable[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out = []
    for text in ips:
        try:
            out.append(ipaddress.ip_address(str(text).strip()))
        except ValueError:
            raise TlsError(f"not an IP address for the server certificate: {text!r}") from None
    return out


def _normalised_name(name) -> str:
    return str(name).strip().lower().rstrip(".")


def _clean_names(hostnames: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in hostnames:
        name = _normalised_name(name)
        if not name:
            continue
        try:
            x509.DNSName(name)
            name.encode("ascii")
        except (ValueError, UnicodeEncodeError):
            raise TlsError(f"not a DNS name for the server certificate: {name!r}") from None
        if name not in out:
            out.append(name)
    return out


_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def refused_requests(keys_dir: Path, hostnames: Iterable[str], ips: Iterable[str]) -> list[str]:
    """Of the names and addresses a person asked for (``tls issue --hostname/--ip``), those a server certificate of
    this station cannot hold, each with why: not a DNS host name (letters, digits and hyphens in dot-separated
    labels), or outside the station CA's name constraints (this station's names and private addresses only). The
    machine's own names are not checked here: whatever they are, they are left out with a log line, never refused."""
    constraints = ca_name_constraints(_load_ca_cert(Path(keys_dir)))
    refused = []
    for name in hostnames:
        clean = _normalised_name(name)
        if not (0 < len(clean) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in clean.split("."))):
            refused.append(f"{name!r} (not a DNS host name)")
        elif not _permits(constraints, clean):
            refused.append(f"{clean} (outside the station CA's name constraints)")
    for address in _parse_ips(ips):
        if not _permits(constraints, address):
            refused.append(f"{address} (outside the station CA's name constraints: private addresses only)")
    return refused


def issue_server_certificate(keys_dir: Path, hostnames: Iterable[str], ips: Iterable[str], *,
                             days: int = 397, force: bool = True) -> ServerCertificate:
    """Issue the HTTPS server certificate (new ECDSA P-256 key, mode 0600) from the station CA, for these DNS names and
    IP addresses. With ``force=False`` an existing certificate is kept when it chains to the CA, covers every name and
    address and is valid for more than RENEW_BEFORE_DAYS."""
    keys_dir = Path(keys_dir)
    names = _clean_names(hostnames)
    addresses = list(dict.fromkeys(_parse_ips(ips)))
    if not names and not addresses:
        raise TlsError("a server certificate needs at least one DNS name or IP address")
    if not 1 <= days <= MAX_SERVER_DAYS:
        raise TlsError(f"server certificate validity must be 1-{MAX_SERVER_DAYS} days, not {days}")
    ca_cert = _load_ca_cert(keys_dir)
    constraints = ca_name_constraints(ca_cert)
    outside = [str(n) for n in [*names, *addresses] if not _permits(constraints, n)]
    if outside:
        log.warning("left out of the server certificate, outside the station CA's name constraints: %s",
                    ", ".join(outside))
        names = [n for n in names if _permits(constraints, n)]
        addresses = [a for a in addresses if _permits(constraints, a)]
        if not names and not addresses:
            raise TlsError(f"the station CA may not vouch for {', '.join(outside)} (its name constraints permit this "
                           f"station's names and private addresses only)")
    cert_path, key_path = keys_dir / SERVER_CERT_FILE, keys_dir / SERVER_KEY_FILE
    current = None if force else _current_certificate(keys_dir, ca_cert)
    if current is not None and _covers(current, names, addresses):
        return _existing(keys_dir, current)
    try:
        ca_key = _load_ca_key(keys_dir, ca_cert)
    except KeysLocked:
        if current is None:
            raise TlsError("no usable server certificate, and the station CA's key is locked: run `station tls "
                           "issue` (it asks for the key passphrase), then start the server again") from None
        log.warning("server certificate not renewed (the keys are locked): it lacks a name or address or expires "
                    "on %s; `station tls issue` renews it", current.not_valid_after_utc.date().isoformat())
        return _existing(keys_dir, current)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    # Without a DNS name a client may check the common name against the CA's DNS constraints: make it no host name.
    common = names[0] if names else f"station {addresses[0]}"
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(a) for a in addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common[:64])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_store(keys_dir).write(SERVER_KEY_FILE, _key_pem(key), seal=False)  # never sealed: see the docstring
    _write_cert(cert_path, _cert_pem(cert))
    log.info("server certificate issued for %s, valid until %s", ", ".join(map(str, names + addresses)),
             not_after.date().isoformat())
    return ServerCertificate(cert_path, key_path, keys_dir / CA_CERT_FILE, tuple(names),
                             tuple(str(a) for a in addresses), not_after, True)


def _current_certificate(keys_dir: Path, ca_cert: x509.Certificate) -> x509.Certificate | None:
    """The server certificate on disk when it chains to the CA, matches its key and is valid now; else None."""
    try:
        cert = x509.load_pem_x509_certificate((keys_dir / SERVER_CERT_FILE).read_bytes())
        key = serialization.load_pem_private_key(key_store(keys_dir).read(SERVER_KEY_FILE), None)
    except (OSError, ValueError, StationError):
        return None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return None
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        return None
    if not cert.not_valid_before_utc <= _now() < cert.not_valid_after_utc:
        return None
    return cert


def _covers(cert: x509.Certificate, names: list[str], addresses: list) -> bool:
    """True when ``cert`` names every one of ``names`` and ``addresses`` and is valid for RENEW_BEFORE_DAYS more."""
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return set(names) <= have_names and set(addresses) <= have_ips


def _existing(keys_dir: Path, cert: x509.Certificate) -> ServerCertificate:
    """The certificate on disk as the server will use it (its own names, not the ones asked for)."""
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ServerCertificate(keys_dir / SERVER_CERT_FILE, keys_dir / SERVER_KEY_FILE, keys_dir / CA_CERT_FILE,
                             tuple(san.get_values_for_type(x509.DNSName)),
                             tuple(str(a) for a in san.get_values_for_type(x509.IPAddress)),
                             cert.not_valid_after_utc, False)


def station_hostnames(extra: Iterable[str] = ()) -> list[str]:
    """The names a LAN client may use: this machine's hostname, its FQDN, ``<hostname>.local`` (mDNS), localhost
    and any configured extras."""
    host = socket.gethostname()
    names = [host, f"{host.split('.')[0]}.local"]
    try:
        fqdn = socket.getfqdn()
    except OSError:
        fqdn = host
    if fqdn and fqdn != host and "." in fqdn:
        names.append(fqdn)
    return _clean_names([*names, "localhost", *extra])


def local_addresses() -> list[str]:
    """This machine's IPv4 and global IPv6 addresses, read locally (no packet is sent): IPv4 per interface from the
    kernel (SIOCGIFADDR), IPv6 from /proc/net/if_inet6. Loopback is included; link-local IPv6 is not."""
    out = ["127.0.0.1", "::1"]
    out += _ipv4_addresses()
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[3] == "00":  # scope 00: global
            out.append(str(ipaddress.IPv6Address(bytes.fromhex(parts[0]))))
    return list(dict.fromkeys(out))


def _ipv4_addresses() -> list[str]:
    import fcntl
    import struct

    siocgifaddr = 0x8915
    try:
        interfaces = sorted(p.name for p in Path("/sys/class/net").iterdir())
    except OSError:
        return []
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name in interfaces:
            try:
                raw = fcntl.ioctl(s.fileno(), siocgifaddr, struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address on this interface
                continue
            out.append(socket.inet_ntoa(raw[20:24]))
    return out
