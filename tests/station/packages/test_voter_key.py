"""Issue 16, item 2 (fast part): the election's voter-reference key travels inside a roll package's encrypted payload
only, the station reads its key per use (a key installed by another process is used from the next entry on), and
the merge knows which entries were written under which key."""
from __future__ import annotations

import datetime as dt
import os
import stat

import pytest

from station.audit import identity
from station.audit.chain import voter_key_id
from station.audit.voter_keys import compare_ballots, entry_key_ids
from station.packages import format as fmt
from station.roll.changes import VoterRecord

CNIC = "82101-1234567-1"


def test_a_signer_reads_the_key_in_force_per_use(tmp_path):
    keys = tmp_path / "keys"
    identity.create_identity(keys, "ST-1")
    assert stat.S_IMODE(os.stat(keys / identity.VOTER_KEY_FILE).st_mode) == 0o600
    signer = identity.load_signer(keys, "ST-1")  # as a running `station serve` holds it
    other_process = identity.load_signer(keys, "ST-1")
    before = signer.voter_ref(CNIC)
    election = os.urandom(32)
    identity.install_voter_key(keys, election)  # what an import does (here as if from another process)
    assert stat.S_IMODE(os.stat(keys / identity.VOTER_KEY_FILE).st_mode) == 0o600
    assert signer.voter_ref(CNIC) == other_process.voter_ref(CNIC) != before
    assert signer.current_voter_key() == election
    with pytest.raises(ValueError):
        identity.install_voter_key(keys, b"short")


def test_the_commission_key_is_made_once_and_private(tmp_path):
    keys = tmp_path / "keys"
    with pytest.raises(identity.KeyMissing):
        identity.load_election_voter_key(keys)
    key = identity.load_election_voter_key(keys, create=True)
    assert len(key) == 32 and identity.load_election_voter_key(keys, create=True) == key
    assert stat.S_IMODE(os.stat(keys / identity.ELECTION_VOTER_KEY_FILE).st_mode) == 0o600
    assert not identity.create_election_voter_key(keys)
    assert key.hex() not in voter_key_id(key) and len(voter_key_id(key)) == 16


def _content(voter_key):
    record = VoterRecord(cnic=CNIC, name_en="A", name_ur="ا", relation="father", relative_name_en="B",
                         relative_name_ur="ب", gender="male", date_of_birth=dt.date(1980, 1, 1), census_block="1",
                         family_number="1", address_en="x", address_ur="x", polling_station="PS-001",
                         serial_number=1, booth=1)
    return fmt.PackageContent(constituencies=(("LA-1", "c", "c", "d"),),
                              polling_stations=(("PS-001", "LA-1", "p", "p", "male", 2),), voters=(record,),
                              references=(), roll_hash="0" * 64, voter_key=voter_key)


def test_the_payload_carries_the_key_and_refuses_a_malformed_one():
    key = os.urandom(32)
    payload = fmt.encode_payload(_content(key))
    assert fmt.decode_payload(payload, polling_station="PS-001", full=True).voter_key == key
    assert fmt.decode_payload(fmt.encode_payload(_content(None)), polling_station="PS-001",
                              full=True).voter_key is None  # format 1 (or a commission without one): none
    assert "voter_key" not in repr(_content(key)) or key.hex() not in repr(_content(key))
    bad = payload.replace(key.hex().encode(), key.hex()[:-2].encode())
    bad = bad[:4] + (int.from_bytes(payload[4:8], "big") - 2).to_bytes(4, "big") + bad[8:]
    with pytest.raises(fmt.PackageRejected) as caught:
        fmt.decode_payload(bad, polling_station="PS-001", full=True)
    assert caught.value.code == "bad_payload"


def test_format_1_is_still_read_and_an_unknown_format_refused():
    assert fmt.FORMAT_VERSION == 2 and fmt.MAGIC == b"ROLLPKG\x02" and 1 in fmt.READABLE_FORMATS
    with pytest.raises(fmt.PackageRejected) as caught:
        fmt.split(b"ROLLPKG\x03" + b"\x00" * 100)
    assert caught.value.code == "bad_format" and "formats 1, 2" in str(caught.value)
    with pytest.raises(fmt.PackageRejected) as caught:
        fmt.split(b"ROLLPKG\x01" + b"\x00" * 4)  # format 1 gets past the version check
    assert caught.value.code != "bad_format"


def _entry(seq, event, voter=None, **details):
    return {"seq": seq, "at": f"2026-11-29T08:00:{seq:02d}+00:00", "event": event, "voter": voter,
            "details": details}


def test_entries_are_labelled_with_the_key_they_were_written_under():
    log = [_entry(1, "identify", "r-own"), _entry(2, "roll_import"),
           _entry(3, "voter_key_installed", key_id="K1", previous_key_id="OWN", entries_with_voters_before=1),
           _entry(4, "ballot_issued", "r1"), _entry(5, "voter_key_installed", key_id="K2", previous_key_id="K1"),
           _entry(6, "ballot_issued", "r2")]
    assert entry_key_ids(log) == ["OWN", "OWN", "K1", "K1", "K2", "K2"]
    assert entry_key_ids([_entry(1, "ballot_issued", "r")]) == [None]


def test_merge_comparison_says_what_it_could_not_compare():
    a = [_entry(1, "ballot_issued", "own-a"),
         _entry(2, "voter_key_installed", key_id="K", previous_key_id="A0"), _entry(3, "ballot_issued", "same")]
    b = [_entry(1, "voter_key_installed", key_id="K", previous_key_id="B0"), _entry(2, "ballot_issued", "same"),
         _entry(3, "ballot_issued", "other")]
    c = [_entry(1, "ballot_issued", "c-unknown")]
    out = compare_ballots([("A", a), ("B", b), ("C", c)])
    assert [(d["voter"], d["voter_key"], sorted(w["station"] for w in d["ballots"])) for d in out["double_votes"]] \
        == [("same", "K", ["A", "B"])]
    assert out["ballots_not_comparable"] == 1  # A's ballot under its own key A0
    assert out["ballots_key_unknown"] == 1 and out["voters_with_ballots"] == 4
    assert {k["key_id"]: (k["stations"], k["ballots"]) for k in out["voter_keys"]} == {
        "K": (["A", "B"], 3), "A0": (["A"], 1), None: (["C"], 1)}
