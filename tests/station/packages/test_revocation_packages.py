"""The commission revokes a station's certificate (`station roll revoke`), its signed revocation list travels in roll
packages, and a station installs it only when it verifies under the commission certificate or key the STATION holds
and is not older than its own. Attacks: a package carrying a list signed by a fresh key (it would clear a revoked
station at every verifier of that home), and an older list replayed over a newer one (it would un-revoke)."""
from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from station.audit.identity import CERTIFICATE_FILE, signing_request
from station.audit.revocation import (CRL_FILE, Revocation, issue_revocation_list, load_revocation_list)
from station.cli.main import main
from station.db.models import MatchLogEntry, Voter
from station.packages.build import build_package
from station.packages.certificates import current_list
from station.packages.crypto import (COMMISSION_CERT_FILE, commission_root, create_commission_certificate,
                                     load_commission_certificate, load_commission_key, load_package_key, public_pem)
from station.packages.format import PackageRejected
from station.roll.changes import remove_voter
from station.roll.store import get_meta
from tests.support.roll_packages import commission_station, registered_station

pytestmark = pytest.mark.slow

PS = "PS-001"


@pytest.fixture(scope="module")
def commission(tmp_path_factory, make_database_url):
    home = tmp_path_factory.mktemp("commission")
    url = make_database_url()
    st = commission_station(home, url, 6)
    create_commission_certificate(st.config.keys_dir)
    (home / "station.toml").write_text('[station]\nid = "COMMISSION"\n')  # what the CLI reads
    st.cli_url = url
    yield st
    st.close()


def cli(st, *args: str):
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(st.config.home), *args],
                                env={"STATION_HOME": None, "STATION_PROFILE": None,
                                     "STATION_DATABASE__URL": st.cli_url})
    assert "Traceback" not in result.output, result.output
    return result


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture
def make_station(tmp_path, make_database_url, commission):
    made = []

    def make(station_id: str, *, holds_certificate: bool = True):
        st = registered_station(commission, tmp_path / station_id, make_database_url(), station_id, PS)
        if holds_certificate:  # what `station identity install --commission-cert` leaves at a station
            (st.config.keys_dir / COMMISSION_CERT_FILE).write_bytes(
                (commission.config.keys_dir / COMMISSION_CERT_FILE).read_bytes())
        made.append(st)
        return st

    yield make
    for st in made:
        st.close()


def certify(commission, st, tmp_path) -> dict:
    """`station identity request` at the station, `roll add-station --request` at the commission (CLI), the
    certificate installed at the station."""
    station_id = st.config.station.id
    csr, crt, pub = tmp_path / f"{station_id}.csr", tmp_path / f"{station_id}.crt", tmp_path / f"{station_id}.pub"
    csr.write_bytes(signing_request(st.config.keys_dir, station_id))
    pub.write_bytes(public_pem(load_package_key(st.config.keys_dir).public_key()))
    added = ok(cli(commission, "roll", "add-station", station_id, "--key", str(pub), "--polling-station", PS,
                   "--replace", "--request", str(csr), "--out", str(crt)))
    (st.config.keys_dir / CERTIFICATE_FILE).write_bytes(crt.read_bytes())
    return added["issued"]


def package(commission, station_id: str, *, revocation_list: bytes | None | str = "current") -> bytes:
    with commission.transaction() as s:
        crl = current_list(s, commission.config.keys_dir) if revocation_list == "current" else revocation_list
        return build_package(s, commission.cipher, load_commission_key(commission.config.keys_dir), station_id,
                             log_signer=commission.flow.log, revocation_list=crl).data


def held_list(st):
    return load_revocation_list((st.config.keys_dir / CRL_FILE).read_bytes(),
                                load_commission_certificate(st.config.keys_dir))


def events(st, event: str) -> list[dict]:
    with st.transaction() as s:
        bodies = [json.loads(b) for b in s.scalars(select(MatchLogEntry.body).order_by(MatchLogEntry.seq))]
    return [b for b in bodies if b["event"] == event]


def roll_version(st) -> int:
    with st.transaction() as s:
        return int(get_meta(s, "roll_version") or 0)


def test_revoke_by_station_id_signs_the_next_list_logs_it_and_exports_it(commission, make_station, tmp_path):
    st = make_station("ST-REV-1")
    issued = certify(commission, st, tmp_path)
    listed = json.loads(cli(commission, "roll", "certificates", "--json").stdout)["certificates"]
    row = next(r for r in listed if r["serial"] == issued["serial"])
    assert row["subject"] == "ST-REV-1" and row["revoked_at"] is None

    revoked = ok(cli(commission, "roll", "revoke", "ST-REV-1", "--reason", "key-compromise", "--operator", "chair"))
    [entry] = revoked["revoked"]
    assert entry["serial"] == issued["serial"] and entry["subject"] == "ST-REV-1"
    assert entry["reason"] == "key-compromise"
    path = commission.config.keys_dir / CRL_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    crl = load_revocation_list(path.read_bytes(), load_commission_certificate(commission.config.keys_dir))
    assert crl.number == revoked["crl_number"] and crl.revocation(int(issued["serial"], 16)) is not None
    [logged] = [e for e in events(commission, "roll_certificate_revoked") if e["details"]["target"] == "ST-REV-1"]
    assert logged["operator"] == "chair" and logged["details"]["serials"] == [issued["serial"]]

    again = cli(commission, "roll", "revoke", "ST-REV-1")
    assert again.exit_code >= 2 and again.stderr.count("\n") == 1 and "already revoked" in again.stderr
    unknown = cli(commission, "roll", "revoke", "NO-SUCH-STATION")
    assert unknown.exit_code >= 2 and "names no station, centre or certificate serial" in unknown.stderr

    exported = ok(cli(commission, "roll", "crl", "--out", str(tmp_path / "out.crl")))
    assert exported["number"] == crl.number and (tmp_path / "out.crl").read_bytes() == path.read_bytes()
    renewed = ok(cli(commission, "roll", "crl", "--out", str(tmp_path / "renewed.crl"), "--renew"))
    assert renewed["number"] == crl.number + 1
    assert issued["serial"] in [r["serial"] for r in renewed["revoked"]]


def test_revoke_by_serial(commission, make_station, tmp_path):
    st = make_station("ST-REV-2")
    first, second = certify(commission, st, tmp_path), certify(commission, st, tmp_path)  # a re-issued certificate
    revoked = ok(cli(commission, "roll", "revoke", first["serial"], "--reason", "superseded"))
    assert [r["serial"] for r in revoked["revoked"]] == [first["serial"]]
    crl = load_revocation_list((commission.config.keys_dir / CRL_FILE).read_bytes(),
                               load_commission_certificate(commission.config.keys_dir))
    assert crl.revocation(int(first["serial"], 16)) and not crl.revocation(int(second["serial"], 16))


def test_a_package_carries_the_list_and_the_station_installs_it(commission, make_station, tmp_path):
    revoked_station = make_station("ST-REV-3")
    issued = certify(commission, revoked_station, tmp_path)
    revoked_station.polling.close_poll("presiding")  # a log entry: a bundle that signs nothing authenticates nothing
    bundle = tmp_path / "revoked-bundle.zip"
    revoked_station.audit.export(str(bundle))
    ok(cli(commission, "roll", "revoke", "ST-REV-3"))

    verifier = make_station("ST-REV-4")
    home_verify = ["--profile", "test", "--home", str(verifier.config.home), "audit", "verify", str(bundle)]
    env = {"STATION_HOME": None, "STATION_PROFILE": None}
    before = CliRunner().invoke(main, home_verify, env=env)
    assert before.exit_code == 0, before.output  # the attack, while this home holds no list

    result = verifier.packages.import_package(package(commission, "ST-REV-4"))
    assert result.crl_installed and result.crl_number == held_list(commission).number
    assert (verifier.config.keys_dir / CRL_FILE).read_bytes() == (commission.config.keys_dir / CRL_FILE).read_bytes()
    assert stat.S_IMODE(os.stat(verifier.config.keys_dir / CRL_FILE).st_mode) == 0o644
    [logged] = events(verifier, "crl_installed")
    assert logged["details"]["number"] == result.crl_number and issued["serial"] in logged["details"]["revoked"]

    after = CliRunner().invoke(main, home_verify, env=env)  # the home's keys/commission.crl, no --crl needed
    assert after.exit_code == 1 and "revoked by the commission" in after.output


def test_a_station_holding_only_the_trusted_key_checks_the_list_under_it(commission, make_station):
    st = make_station("ST-REV-5", holds_certificate=False)
    result = st.packages.import_package(package(commission, "ST-REV-5"))
    assert result.crl_installed and (st.config.keys_dir / CRL_FILE).is_file()


@pytest.mark.parametrize("holds_certificate", [True, False])
def test_a_package_carrying_a_list_signed_by_a_fresh_key_is_refused(commission, make_station, holds_certificate):
    st = make_station(f"ST-REV-F{int(holds_certificate)}", holds_certificate=holds_certificate)
    fresh = Ed25519PrivateKey.generate()
    impostor = commission_root(fresh)  # the same name as the commission's root, another key
    assert impostor.subject == load_commission_certificate(commission.config.keys_dir).subject
    forged = issue_revocation_list(fresh, impostor, [], 10_000)  # "nobody is revoked", numbered above any real one
    with pytest.raises(PackageRejected) as caught:
        st.packages.import_package(package(commission, st.config.station.id, revocation_list=forged))
    assert caught.value.code == "untrusted_crl" and "not signed by the commission key held here" in str(caught.value)
    assert roll_version(st) == 0 and not (st.config.keys_dir / CRL_FILE).exists()
    [rejected] = [e for e in events(st, "roll_import") if e["outcome"] == "rejected"]
    assert rejected["details"]["reason"] == "untrusted_crl"


def test_an_older_list_does_not_replace_a_newer_one(commission, make_station, tmp_path):
    st = make_station("ST-REV-6")
    with commission.transaction() as s:
        older = current_list(s, commission.config.keys_dir, renew=True)
    with commission.transaction() as s:
        newer = current_list(s, commission.config.keys_dir, renew=True)
    cert = load_commission_certificate(commission.config.keys_dir)
    old_number = load_revocation_list(older, cert).number
    assert load_revocation_list(newer, cert).number == old_number + 1

    assert st.packages.import_package(package(commission, "ST-REV-6", revocation_list=newer)).crl_installed
    version = roll_version(st)
    with commission.transaction() as s:  # a roll change, so that a newer package exists to carry the old list
        cnic = s.scalar(select(Voter.cnic).where(Voter.status == "active").order_by(Voter.id.desc()).limit(1))
        remove_voter(s, cnic, "deceased", operator="test")
    with pytest.raises(PackageRejected) as caught:
        st.packages.import_package(package(commission, "ST-REV-6", revocation_list=older))
    assert caught.value.code == "crl_rollback" and f"number {old_number}, older than number" in str(caught.value)
    assert held_list(st).number == old_number + 1 and roll_version(st) == version
    # the same list again changes nothing; a package without a list (an older release's) leaves the held one
    same = st.packages.import_package(package(commission, "ST-REV-6", revocation_list=newer))
    assert same.crl_number == old_number + 1 and not same.crl_installed


def test_a_package_without_a_list_is_still_read(commission, make_station):
    st = make_station("ST-REV-7")
    result = st.packages.import_package(package(commission, "ST-REV-7", revocation_list=None))
    assert result.crl_number is None and not result.crl_installed
    assert not (st.config.keys_dir / CRL_FILE).exists()


def test_the_commission_re_signs_a_stale_list_when_it_builds_a_package(commission):
    keys = commission.config.keys_dir
    key, cert = load_commission_key(keys), load_commission_certificate(keys)
    stale = issue_revocation_list(key, cert, [Revocation(1, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))], 1,
                                  now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=90))
    (keys / CRL_FILE).write_bytes(stale)
    with commission.transaction() as s:
        fresh = load_revocation_list(current_list(s, keys), cert)
    assert not fresh.stale() and fresh.number > 1
    assert x509.load_pem_x509_crl((keys / CRL_FILE).read_bytes()).last_update_utc == fresh.this_update
