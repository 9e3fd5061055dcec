"""Issue 16, item 2: one voter-reference key per election. Two stations import roll packages from one commission,
each verifies the same voter and issues a ballot; their audit bundles, merged, show the double vote. The key
travels only inside the encrypted payload: never in a package header, a log entry or a bundle; installed 0600."""
from __future__ import annotations

import json
import os
import stat
import zipfile

import pytest
from sqlalchemy import select

from station.audit import identity
from station.audit.chain import voter_key_id
from station.audit.merge import merge_bundles
from station.audit.voter_keys import compare_ballots
from station.db.models import MatchLogEntry
from station.packages import build as build_module
from station.packages import format as fmt
from station.packages.build import build_package
from station.packages.crypto import load_commission_key
from station.security.users import Principal
from tests.support.roll_packages import commission_station, registered_station

pytestmark = pytest.mark.slow

PS = "PS-001"
OFFICER = Principal("officer", "polling_officer")


@pytest.fixture(scope="module")
def commission(tmp_path_factory, make_database_url):
    st = commission_station(tmp_path_factory.mktemp("commission"), make_database_url(), 24)
    yield st
    st.close()


@pytest.fixture
def make_station(tmp_path, make_database_url, commission):
    made = []

    def make(station_id: str):
        made.append(registered_station(commission, tmp_path / station_id, make_database_url(), station_id, PS))
        return made[-1]

    yield make
    for st in made:
        st.close()


def election_key(commission) -> bytes:
    return identity.load_election_voter_key(commission.config.keys_dir, create=True)


def package(commission, station_id: str, *, voter_key: bytes | None = None) -> bytes:
    with commission.transaction() as s:
        return build_package(s, commission.cipher, load_commission_key(commission.config.keys_dir), station_id,
                             log_signer=commission.flow.log, voter_key=voter_key).data


def vote(st, cnic: str) -> str:
    view = st.polling.start_verification(OFFICER, cnic)
    st.steering.present_fingerprint(OFFICER, cnic, view.next_finger)
    view = st.polling.capture_fingerprint(OFFICER, view.id)
    assert view.state == "VERIFIED", view.message
    return st.polling.issue_ballot(OFFICER, view.id).state


def log_bodies(st) -> list[dict]:
    with st.transaction() as s:
        return [json.loads(b) for b in s.scalars(select(MatchLogEntry.body).order_by(MatchLogEntry.seq))]


def bundle_bytes(path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return b"".join(z.read(name) for name in z.namelist())


def test_two_stations_of_one_commission_show_a_double_vote_in_the_merge(commission, make_station, tmp_path):
    key = election_key(commission)
    a, b = make_station("ST-A"), make_station("ST-B")
    # Station A logged a voter under its own key before any package: a CNIC it does not have on its roll yet.
    own_key = a.log_signer.current_voter_key()
    signer_a = a.log_signer  # cached by the running station before the import: it must follow the new key
    voter = next(v for v in commission.roll.list_voters(polling_station=PS) if v.fingers)
    a.polling.start_verification(OFFICER, voter.cnic)

    data = package(commission, "ST-A", voter_key=key)
    header = fmt.parse_header(fmt.split(data).header_bytes)
    assert header["format"] == 2 and data[:8] == b"ROLLPKG\x02"
    assert key not in data and key.hex().encode() not in data  # only inside the encryption
    assert key.hex() not in json.dumps(header) and voter_key_id(key) not in json.dumps(header)
    result = a.packages.import_package(data, operator="tech")
    assert result.voter_key == voter_key_id(key) and result.voter_key_installed
    assert b.packages.import_package(package(commission, "ST-B", voter_key=key)).voter_key_installed

    for st in (a, b):
        path = st.config.keys_dir / identity.VOTER_KEY_FILE
        assert path.read_bytes() == key and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signer_a is a.log_signer and signer_a.current_voter_key() == key
    [installed] = [e for e in log_bodies(a) if e["event"] == "voter_key_installed"]
    assert installed["details"] == {"key_id": voter_key_id(key), "previous_key_id": voter_key_id(own_key),
                                    "entries_with_voters_before": 1, "package_id": result.package_id,
                                    "version": result.version}

    # A later package with the same key changes nothing about the key.
    with commission.transaction() as s:
        from station.roll.changes import correct_voter
        correct_voter(s, voter.cnic, {"address_en": "House 5"})
    again = a.packages.import_package(package(commission, "ST-A", voter_key=key))
    assert again.voter_key == voter_key_id(key) and not again.voter_key_installed
    assert [e["event"] for e in log_bodies(a)].count("voter_key_installed") == 1

    # The planted double vote: the same voter verified and given a ballot at both stations.
    assert vote(a, voter.cnic) == vote(b, voter.cnic) == "BALLOT_ISSUED"
    paths = [tmp_path / "a.zip", tmp_path / "b.zip"]
    a.audit.export(paths[0])
    b.audit.export(paths[1])
    merged = merge_bundles(paths, self_signed_ok=True)  # test stations are self-signed
    assert all(x["ok"] for x in merged["bundles"]), merged["bundles"]
    [double] = merged["double_votes"]
    assert sorted(w["station"] for w in double["ballots"]) == ["ST-A", "ST-B"]
    assert merged["ok"] is False
    assert double["voter"] == signer_a.voter_ref(voter.cnic)
    assert merged["ballots_not_comparable"] == 0 and merged["ballots_key_unknown"] == 0
    assert {k["key_id"]: k["stations"] for k in merged["voter_keys"]}[voter_key_id(key)] == ["ST-A", "ST-B"]

    compared = compare_ballots([(name, log_bodies(st)) for name, st in (("ST-A", a), ("ST-B", b))])
    assert [d["voter_key"] for d in compared["double_votes"]] == [voter_key_id(key)]
    assert compared["ballots_not_comparable"] == 0 and compared["ballots_key_unknown"] == 0

    # The key is in no log entry and no bundle (neither raw nor hex), and no voter's CNIC is either.
    for st, path in zip((a, b), paths):
        text = json.dumps(log_bodies(st))
        assert key.hex() not in text and voter.cnic not in text
        raw = bundle_bytes(path)
        assert key not in raw and key.hex().encode() not in raw


def test_a_format_1_package_is_still_imported_and_keeps_the_station_key(commission, make_station, monkeypatch):
    st = make_station("ST-OLD")
    own = st.log_signer.current_voter_key()
    monkeypatch.setattr(build_module, "FORMAT_VERSION", 1)
    monkeypatch.setattr(build_module, "MAGIC", b"ROLLPKG\x01")
    monkeypatch.setattr(fmt, "MAGIC", b"ROLLPKG\x01")
    data = package(commission, "ST-OLD")
    monkeypatch.undo()
    assert data[:8] == b"ROLLPKG\x01"
    result = st.packages.import_package(data)
    assert result.voter_key is None and not result.voter_key_installed
    assert st.log_signer.current_voter_key() == own
    assert "voter_key_installed" not in [e["event"] for e in log_bodies(st)]
