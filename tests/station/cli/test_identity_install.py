"""`station identity install`: the station's certificate is installed only when the commission certificate the station
holds (or, on a fresh home, the one given) issued it, and the certificate the home already holds as its trust anchor
(keys/commission.crt) is never replaced silently.

The attack: a rogue "commission" issues a certificate for the station's own request; `station identity install rs.crt
--commission-cert rogue.crt` would make keys/commission.crt the rogue's, and every later verification with the home's
default anchor (audit verify, central merge/verify, backup verify, roll admit) would trust the rogue. Like `roll
trust`, changing the anchor takes an explicit --replace."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from station.audit.bundle import COMMISSION_CERT_FILE
from station.audit.identity import CERTIFICATE_FILE, ROLE_STATION, SIGNING_KEY_FILE, signing_request
from station.cli.main import main
from station.db.models import MatchLogEntry
from station.packages.crypto import issue_certificate
from tests.support.pki import Commission
from tests.support.stations import build_station

STATION = "AJK-DEMO-05"


@pytest.fixture
def home(tmp_path, make_database_url):
    """An initialised station home (`station init`) the command line runs on, with its own certificate request."""
    url = make_database_url()
    home = tmp_path / "Sy"
    st = build_station(home, url, station={"id": STATION, "polling_station": "PS-005"})
    try:
        st.init()
        csr = x509.load_pem_x509_csr(signing_request(st.config.keys_dir, STATION))
    finally:
        st.close()
    (home / "station.toml").write_text(f'[station]\nid = "{STATION}"\npolling_station = "PS-005"\n')
    home_files = {"home": home, "url": url, "csr": csr, "keys": home / "keys"}
    return home_files


def issue(commission: Commission, csr, path, role: str = ROLE_STATION):
    cert = issue_certificate(commission.key, commission.cert, csr, STATION, role)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def install(home, *args: str):
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(home["home"]), "identity", "install", *args],
                                env={"STATION_HOME": None, "STATION_PROFILE": None,
                                     "STATION_DATABASE__URL": home["url"]})
    assert "Traceback" not in result.output, result.output
    return result


def logged(home, event: str) -> list[dict]:
    st = build_station(home["home"], home["url"], station={"id": STATION})
    try:
        with st.transaction() as s:
            bodies = [json.loads(b) for b in s.scalars(select(MatchLogEntry.body).order_by(MatchLogEntry.seq))]
    finally:
        st.close()
    return [b for b in bodies if b["event"] == event]


def test_install_does_not_silently_replace_the_commission_certificate_held(home, tmp_path):
    genuine, rogue = Commission(), Commission()
    (tmp_path / "commission.crt").write_bytes(genuine.pem)
    (tmp_path / "rogue.crt").write_bytes(rogue.pem)
    ps = issue(genuine, home["csr"], tmp_path / "ps.crt")
    rs = issue(rogue, home["csr"], tmp_path / "rs.crt")  # the rogue certifies the station's own key

    first = install(home, str(ps), "--commission-cert", str(tmp_path / "commission.crt"))  # a fresh home: fine
    assert first.exit_code == 0, first.output
    anchor = home["keys"] / COMMISSION_CERT_FILE
    assert anchor.read_bytes() == genuine.pem and (home["keys"] / CERTIFICATE_FILE).read_bytes() == ps.read_bytes()

    attack = install(home, str(rs), "--commission-cert", str(tmp_path / "rogue.crt"))
    assert attack.exit_code == 3, attack.output
    assert attack.stderr.count("\n") == 1 and attack.stderr.startswith("error: ")
    assert "already holds" in attack.stderr and "--replace" in attack.stderr
    assert anchor.read_bytes() == genuine.pem  # the anchor is the genuine commission's still
    assert (home["keys"] / CERTIFICATE_FILE).read_bytes() == ps.read_bytes()
    assert len(logged(home, "identity_installed")) == 1

    same = install(home, str(ps), "--commission-cert", str(tmp_path / "commission.crt"))  # the identical one: fine
    assert same.exit_code == 0, same.output
    assert anchor.read_bytes() == genuine.pem

    held = install(home, str(rs))  # the rogue's certificate against the held anchor: refused as before
    assert held.exit_code == 3 and "issued by another key" in held.stderr

    replaced = install(home, str(rs), "--commission-cert", str(tmp_path / "rogue.crt"), "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert anchor.read_bytes() == rogue.pem and (home["keys"] / CERTIFICATE_FILE).read_bytes() == rs.read_bytes()
    entry = logged(home, "identity_installed")[-1]
    assert entry["details"]["commission_certificate_replaced"] == genuine.cert.fingerprint(hashes.SHA256()).hex()


def test_the_installed_certificate_must_verify_under_the_commission_root(home, tmp_path):
    genuine, rogue = Commission(), Commission()
    (tmp_path / "commission.crt").write_bytes(genuine.pem)
    rs = issue(rogue, home["csr"], tmp_path / "rs.crt")
    refused = install(home, str(rs), "--commission-cert", str(tmp_path / "commission.crt"))
    assert refused.exit_code == 3 and "issued by another key" in refused.stderr
    assert not (home["keys"] / COMMISSION_CERT_FILE).exists()  # nothing installed
    other_key = Commission().issue(Ed25519PrivateKey.generate(), STATION)
    (tmp_path / "other.crt").write_bytes(other_key)
    refused = install(home, str(tmp_path / "other.crt"), "--commission-cert", str(tmp_path / "commission.crt"))
    assert refused.exit_code == 3 and "not for this station's log key" in refused.stderr
    assert (home["keys"] / SIGNING_KEY_FILE).exists() and not (home["keys"] / COMMISSION_CERT_FILE).exists()


def test_identity_show_on_a_station_never_initialised_says_so(tmp_path):
    """It printed "No such file or directory: .../keys/station.crt" (exit 2), where every other command says the
    station is not initialised (exit 3)."""
    from station.cli.common import ExitCode
    from station.cli.main import main

    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(tmp_path / "never"), "identity", "show"],
                                env={"STATION_HOME": None, "STATION_PROFILE": None})
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert result.stderr.strip() == ("error: the station is not initialised (no station certificate "
                                     f"{tmp_path / 'never' / 'keys' / 'station.crt'}): run `station init` first")
