"""`station doctor`'s "station certificate" line: keys/station.crt checked against the anchors the STATION holds
(keys/commission.crt, keys/commission.crl), never against anything the certificate brings.

The attacks: whoever can write keys/station.crt (a copy of the home, a rogue technician) puts there a certificate
that names the commission as its issuer but was signed by a key of their own; or the commission re-certified the
station (`add-station --replace`) and revoked the old certificate, which stays in place; or the certificate expired;
or it is the commission's genuine certificate for another key. Before this line, doctor checked the live log against
keys/station.crt and passed all of them."""
from __future__ import annotations

import datetime as dt
import shutil

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from station.audit.identity import ROLE_STATION, SIGNING_KEY_FILE
from station.audit.revocation import CRL_FILE, Revocation, issue_revocation_list
from station.cli.common import ExitCode
from station.cli.main import main
from station.packages.crypto import (COMMISSION_KEY_FILE, COMMISSION_PUBLIC_FILE, create_commission_certificate,
                                     create_commission_key, public_pem)
from station.security.keystore import PASSPHRASE, key_store
from tests.support.keystore import fresh_process
from tests.support.pki import PEM, Commission, self_signed
from tests.support.stations import build_station

STATION = "AJK-DOC-01"
NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)


def certificate(public_key, issuer_key, issuer_name: x509.Name, *, not_before: dt.datetime = NOW - DAY,
                not_after: dt.datetime = NOW + 365 * DAY) -> x509.Certificate:
    """A station certificate as the commission issues them (CN = station id, OU = role, not a CA), made here so that
    the issuer's key, its name and the validity can be anything."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, STATION),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ROLE_STATION)])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(issuer_key, None))


@pytest.fixture(scope="module")
def home(tmp_path_factory, make_database_url):
    folder = tmp_path_factory.mktemp("doctor-cert")
    url = make_database_url()
    st = build_station(folder / "home", url, station={"id": STATION, "polling_station": "PS-001"})
    st.init()
    st.close()
    keys = folder / "home" / "keys"
    key = serialization.load_pem_private_key((keys / SIGNING_KEY_FILE).read_bytes(), None)
    kept = folder / "kept"
    shutil.copytree(keys, kept)
    return {"home": folder / "home", "url": url, "keys": keys, "kept": kept, "key": key, "commission": Commission()}


@pytest.fixture
def keys(home):
    """The home's keys folder; whatever a test puts in it is undone afterwards."""
    yield home["keys"]
    shutil.rmtree(home["keys"])
    shutil.copytree(home["kept"], home["keys"])


def holds(keys, *, commission: Commission | None = None, cert: x509.Certificate | bytes | None = None,
          crl: bytes | None = None) -> None:
    if commission is not None:
        (keys / "commission.crt").write_bytes(commission.pem)
    if cert is not None:
        (keys / "station.crt").write_bytes(cert if isinstance(cert, bytes) else cert.public_bytes(PEM))
    if crl is not None:
        (keys / CRL_FILE).write_bytes(crl)


def doctor_line(home) -> tuple[bool, str]:
    st = build_station(home["home"], home["url"], station={"id": STATION, "polling_station": "PS-001"})
    try:
        checks = {name: (ok, detail) for name, ok, detail in st.doctor()}
    finally:
        st.close()
    assert "station certificate" in checks, sorted(checks)
    return checks["station certificate"]


def genuine(home, **validity) -> x509.Certificate:
    commission = home["commission"]
    return certificate(home["key"].public_key(), commission.key, commission.cert.subject, **validity)


# --- the attacks ---

def test_a_certificate_signed_by_a_rogue_key_in_the_commission_s_name_fails(home, keys):
    rogue = Ed25519PrivateKey.generate()
    forged = certificate(home["key"].public_key(), rogue, home["commission"].cert.subject)
    assert forged.issuer == home["commission"].cert.subject  # it says the commission issued it
    holds(keys, commission=home["commission"], cert=forged)
    ok, detail = doctor_line(home)
    assert not ok and "issued by another key" in detail and "not issued by the commission" in detail, detail


def test_a_revoked_certificate_fails(home, keys):
    """The commission re-certified the station and revoked the old certificate: the old one, still in place, fails
    under the revocation list the station holds."""
    commission, cert = home["commission"], genuine(home)
    revoked_at = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.timezone.utc)
    crl = issue_revocation_list(commission.key, commission.cert, [Revocation(cert.serial_number, revoked_at,
                                                                             "superseded")], 4)
    holds(keys, commission=commission, cert=cert, crl=crl)
    ok, detail = doctor_line(home)
    assert not ok, detail
    assert f"serial {cert.serial_number:x}" in detail and "revoked by the commission on 2026-03-01" in detail, detail


def test_an_expired_certificate_fails_and_says_when_it_ended(home, keys):
    cert = genuine(home, not_before=NOW - 400 * DAY, not_after=NOW - 2 * DAY)
    holds(keys, commission=home["commission"], cert=cert)
    ok, detail = doctor_line(home)
    assert not ok and "not valid" in detail and f"{NOW - 2 * DAY:%Y-%m-%d}" in detail, detail


def test_a_certificate_not_yet_valid_fails(home, keys):
    holds(keys, commission=home["commission"], cert=genuine(home, not_before=NOW + 3 * DAY))
    ok, detail = doctor_line(home)
    assert not ok and "not valid" in detail and f"{NOW + 3 * DAY:%Y-%m-%d}" in detail, detail


def test_the_commission_s_certificate_for_another_key_fails(home, keys):
    commission = home["commission"]
    other = certificate(Ed25519PrivateKey.generate().public_key(), commission.key, commission.cert.subject)
    holds(keys, commission=commission, cert=other)
    ok, detail = doctor_line(home)
    assert not ok and "not the station's log signing key" in detail and SIGNING_KEY_FILE in detail, detail


def test_a_self_signed_certificate_fails_where_a_commission_certificate_is_held(home, keys):
    holds(keys, commission=home["commission"], cert=self_signed(home["key"], STATION))
    ok, detail = doctor_line(home)
    assert not ok and "self-signed" in detail and "station identity request" in detail, detail


def test_a_foreign_signed_certificate_fails_where_no_commission_certificate_is_held(home, keys):
    """Nothing to check its issuer against: it is not taken on its word."""
    rogue = Ed25519PrivateKey.generate()
    holds(keys, cert=certificate(home["key"].public_key(), rogue, home["commission"].cert.subject))
    ok, detail = doctor_line(home)
    assert not ok and "holds no commission certificate" in detail, detail


def test_a_revocation_list_of_another_signer_fails(home, keys):
    impostor = Commission()
    holds(keys, commission=home["commission"], cert=genuine(home),
          crl=issue_revocation_list(impostor.key, impostor.cert, [], 7))
    ok, detail = doctor_line(home)
    assert not ok and CRL_FILE in detail, detail


# --- what passes ---

def test_a_demo_station_s_own_self_signed_certificate_is_ok_and_said_so(home, keys):
    ok, detail = doctor_line(home)  # `station init` made it; no commission certificate held
    assert ok and detail.startswith("self-signed, not certified by a commission"), detail


def test_the_commission_s_own_home_with_its_self_signed_log_certificate_is_ok_and_said_so(home, keys):
    """`roll commission-init` made the commission's key and root certificate in this home: its own log certificate
    stays self-signed, and that is not a station waiting for certification."""
    create_commission_key(keys)
    create_commission_certificate(keys)
    ok, detail = doctor_line(home)
    assert ok and "commission's own home" in detail, detail


def test_the_commission_s_public_key_planted_on_a_station_does_not_make_it_the_commission_s_home(home, keys):
    """keys/commission-signing.pub is public (the commission hands it to every station): copied into a station's
    keys/ it used to turn the FAIL of a self-signed certificate into "ok ... the commission's own home"."""
    commission = home["commission"]
    holds(keys, commission=commission)
    (keys / COMMISSION_PUBLIC_FILE).write_bytes(public_pem(commission.key.public_key()))
    ok, detail = doctor_line(home)
    assert not ok and "self-signed" in detail and "station identity request" in detail, detail


def test_the_commission_s_home_without_its_public_key_file_is_still_its_own_home(home, keys):
    """The private key shows it; the public file beside it is not needed (it used to be a false FAIL)."""
    create_commission_key(keys)
    create_commission_certificate(keys)
    (keys / COMMISSION_PUBLIC_FILE).unlink()
    ok, detail = doctor_line(home)
    assert ok and "commission's own home" in detail, detail


def test_the_commission_s_home_with_its_key_sealed_and_locked_is_its_own_home(home, keys, monkeypatch):
    """Sealed under the passphrase and locked in this process (doctor without the passphrase): the private key is held
    but cannot be opened, so its public half is read from the file beside it."""
    new_process = fresh_process(monkeypatch)
    create_commission_key(keys)
    create_commission_certificate(keys)
    key_store(keys).protect(PASSPHRASE, [COMMISSION_KEY_FILE], passphrase="commission only", scrypt_n=2 ** 12)
    new_process()
    assert key_store(keys).locked
    ok, detail = doctor_line(home)
    assert ok and "commission's own home" in detail, detail


def test_a_held_commission_certificate_without_its_key_is_not_the_commission_s_home(home, keys):
    holds(keys, commission=home["commission"])
    create_commission_key(keys)  # a commission key, but not the one the certificate held is for
    ok, detail = doctor_line(home)
    assert not ok and "self-signed" in detail, detail


def test_a_certified_station_passes_and_names_its_issuer_and_the_list(home, keys):
    commission, cert = home["commission"], genuine(home)
    other = Revocation(cert.serial_number + 1, NOW - DAY)  # someone else's certificate is revoked
    holds(keys, commission=commission, cert=cert,
          crl=issue_revocation_list(commission.key, commission.cert, [other], 3))
    ok, detail = doctor_line(home)
    assert ok, detail
    assert "certified by" in detail and "Election Commission" in detail and "revocation list number 3" in detail
    assert "expires in" not in detail


def test_a_certificate_expiring_within_30_days_is_ok_but_said(home, keys):
    holds(keys, commission=home["commission"], cert=genuine(home, not_after=NOW + 10 * DAY))
    ok, detail = doctor_line(home)
    assert ok and ("expires in 9 days" in detail or "expires in 10 days" in detail), detail


def test_station_doctor_exits_1_with_one_fail_line(home, keys):
    rogue = Ed25519PrivateKey.generate()
    holds(keys, commission=home["commission"],
          cert=certificate(home["key"].public_key(), rogue, home["commission"].cert.subject))
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(home["home"]), "doctor"],
                                env={"STATION_HOME": None, "STATION_PROFILE": None,
                                     "STATION_DATABASE__URL": home["url"], "STATION_STATION__ID": STATION})
    assert result.exit_code == ExitCode.CHECK_FAILED, result.output
    assert [line for line in result.stdout.splitlines() if line.startswith("FAIL station certificate: ")], \
        result.stdout
