"""Signed, encrypted roll packages: round trip, deltas, versions, every tampering rejected with the roll unchanged,
ballots kept, local registrations replaced, and a verification on an imported roll (SQLite or PostgreSQL)."""
from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from station.errors import Conflict, InvalidInput, NotFound
from station.db.models import MatchLogEntry, Voter
from station.packages.crypto import (load_commission_key, public_pem)
from station.packages.format import PackageRejected, sections
from station.roll.store import EnrolledTemplate, get_meta, references
from station.roll.changes import (VoterRecord, add_voter, changes_between, correct_voter, current_revision, record_of,
                                  reinstate_voter, remove_voter)
from station.roll.content_hash import roll_content_hash
from station.packages.build import build_package
from station.packages.verify import install_trust
from tests.support.roll_packages import commission_station, registered_station

pytestmark = pytest.mark.slow

PS = "PS-001"


@pytest.fixture(scope="module")
def commission(tmp_path_factory, make_database_url):
    st = commission_station(tmp_path_factory.mktemp("commission"), make_database_url(), 30)
    yield st
    st.close()


@pytest.fixture
def make_station(tmp_path, make_database_url, commission):
    """A fresh station registered at the commission and trusting its key."""
    made = []

    def make(station_id: str = "ST-A", polling_station: str = PS, *, trust: bool = True, **overrides):
        made.append(registered_station(commission, tmp_path / station_id, make_database_url(), station_id,
                                       polling_station, trust=trust, **overrides))
        return made[-1]

    yield make
    for st in made:
        st.close()


def package(commission, station_id: str, base: int | None = None, signing_key=None) -> bytes:
    with commission.transaction() as s:
        return build_package(s, commission.cipher, signing_key or load_commission_key(commission.config.keys_dir),
                             station_id, base=base, log_signer=commission.flow.log).data


def roll_hash(st, polling_station: str | None = None) -> str:
    with st.transaction() as s:
        return roll_content_hash(s, st.cipher, polling_station=polling_station)


def version(st) -> int:
    with st.transaction() as s:
        return int(get_meta(s, "roll_version") or 0)


def revision(commission) -> int:
    with commission.transaction() as s:
        return current_revision(s)


def voters_at(st, polling_station: str = PS, status: str = "active") -> dict[str, Voter]:
    with st.transaction() as s:
        rows = s.scalars(select(Voter).join(Voter.polling_station).where(Voter.status == status))
        return {v.cnic: v for v in rows if v.polling_station.code == polling_station}


def templates_of(st, cnic: str, as_cnic: str) -> list[EnrolledTemplate]:
    from station.security.keys import template_context

    with st.transaction() as s:
        refs = references(s, cnic, "fingerprint")
        return [EnrolledTemplate(as_cnic, r.modality, r.position, r.format, r.quality,
                                 st.cipher.decrypt(r.ciphertext, template_context(cnic, r.modality, r.position)))
                for r in refs]


def new_record(commission, cnic: str, polling_station: str = PS) -> VoterRecord:
    donor = next(iter(voters_at(commission, polling_station).values()))
    with commission.transaction() as s:
        voter = s.get(Voter, donor.id)
        return dataclasses.replace(record_of(voter, polling_station), cnic=cnic, name_en="Added Voter",
                                   serial_number=None, booth=None)


def roll_events(st) -> list[dict]:
    with st.transaction() as s:
        return [json.loads(e.body) for e in s.scalars(select(MatchLogEntry).where(MatchLogEntry.event == "roll_import")
                                                      .order_by(MatchLogEntry.seq))]


def test_full_package_round_trip(commission, make_station):
    st = make_station()
    data = package(commission, "ST-A")
    wanted = voters_at(commission)
    assert len(wanted) >= 5
    some = next(iter(wanted.values()))
    assert some.name_en.encode() not in data and some.cnic.encode() not in data  # the payload travels encrypted
    result = st.packages.import_package(data, operator="tech")
    assert result.kind == "full" and result.version == revision(commission) and result.added == len(wanted)
    assert roll_hash(st) == roll_hash(commission, PS) == result.roll_hash
    assert roll_hash(st) != roll_hash(commission)  # the commission's whole roll holds other polling stations too
    assert set(voters_at(st)) == set(wanted)
    with st.transaction() as s:
        assert get_meta(s, "roll_version") == str(result.version)
        assert get_meta(s, "roll_package_id") == result.package_id
        assert get_meta(s, "synthetic_roll_seed") == "21"
        digest = get_meta(s, "roll_digest")
        refs = references(s, some.cnic, "fingerprint")
        assert refs and all(r.key_id == st.cipher.key_id != commission.cipher.key_id for r in refs)
    import hashlib
    lines = sorted(f"{v.cnic}|{PS}|{v.serial_number}" for v in wanted.values())
    assert digest == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    accepted = roll_events(st)[-1]
    assert accepted["outcome"] == "accepted" and accepted["details"]["package_id"] == result.package_id
    assert some.cnic not in json.dumps(accepted) and some.name_en not in json.dumps(accepted)


def test_delta_adds_removes_corrects_and_moves(commission, make_station):
    st = make_station("ST-B")
    st.packages.import_package(package(commission, "ST-B"))
    base = version(st)
    here, there = list(voters_at(commission)), list(voters_at(commission, "PS-002"))
    removed, corrected, moved_out, moved_in = here[0], here[1], here[2], there[0]
    added = "99999-0000001-1"
    record, templates = new_record(commission, added), templates_of(commission, here[3], added)
    with commission.transaction() as s:
        add_voter(s, commission.cipher, record, templates)
        remove_voter(s, removed, "deceased")
        correct_voter(s, corrected, {"address_en": "House 9, Corrected Street"})
        correct_voter(s, moved_out, {"polling_station": "PS-002"})
        correct_voter(s, moved_in, {"polling_station": PS})
    with commission.transaction() as s:
        delta = changes_between(s, PS, base, current_revision(s))
    assert set(delta.upserts) == {added, corrected, moved_in}
    assert dict(delta.removals) == {removed: "deceased", moved_out: "moved"}
    data = package(commission, "ST-B", base=base)
    result = st.packages.import_package(data)
    assert (result.kind, result.base_version, result.version) == ("delta", base, revision(commission))
    assert (result.added, result.updated, result.removed) == (2, 1, 2)
    assert roll_hash(st) == roll_hash(commission, PS)
    on_roll = voters_at(st)
    assert added in on_roll and moved_in in on_roll and removed not in on_roll and moved_out not in on_roll
    assert on_roll[corrected].address_en == "House 9, Corrected Street"
    view = st.polling.start_verification(_officer(), removed)
    assert view.state == "NOT_ON_ROLL"


def _officer():
    from station.security.users import Principal

    return Principal("officer", "polling_officer")


def test_every_tampering_is_rejected_and_the_roll_is_unchanged(commission, make_station):
    st = make_station("ST-C")
    full = package(commission, "ST-C")
    st.packages.import_package(full)
    with commission.transaction() as s:
        correct_voter(s, next(iter(voters_at(commission))), {"address_ur": "نیا پتہ"})
    delta = package(commission, "ST-C", base=version(st))
    at = version(st)
    now = {"hash": roll_hash(st), "version": at}
    codes = {}

    def rejected(data: bytes, name: str) -> PackageRejected:
        with pytest.raises(PackageRejected) as caught:
            st.packages.import_package(data)
        assert roll_hash(st) == now["hash"] and version(st) == now["version"], name
        assert "\n" not in str(caught.value) and str(caught.value), name
        codes[name] = caught.value.code
        return caught.value

    for name, (start, end) in sections(delta).items():
        for offset in {start, (start + end) // 2, end - 1}:
            tampered = bytearray(delta)
            tampered[offset] ^= 0x01
            rejected(bytes(tampered), f"{name}@{offset}")
    assert {codes[k] for k in codes if k.startswith(("header@", "crypto@", "ciphertext@"))} == {"tampered"}
    sig_at = sections(delta)["signature"][0]
    assert rejected(delta[:sig_at], "signature removed").code == "unsigned"
    assert rejected(delta[:sig_at // 2], "truncated").code == "truncated"
    assert rejected(b"PK\x03\x04 not a package at all", "garbage").code == "not_a_package"
    assert rejected(b"", "empty").code == "not_a_package"
    make_station("ST-D")
    assert rejected(package(commission, "ST-D"), "for another station").code == "wrong_station"
    foreign = Ed25519PrivateKey.generate()
    assert rejected(package(commission, "ST-C", signing_key=foreign), "unknown signer").code == "untrusted_signer"
    assert rejected(full, "replayed full package").code == "replay"
    with commission.transaction() as s:
        correct_voter(s, next(iter(voters_at(commission))), {"address_ur": "دوسرا پتہ"})
    assert rejected(package(commission, "ST-C", base=revision(commission) - 1), "wrong base").code == "wrong_base"
    events = [e for e in roll_events(st) if e["outcome"] == "rejected"]
    assert len(events) == len(codes) and {e["details"]["reason"] for e in events} == set(codes.values())
    # The untampered delta was valid all along: the rejections came from the changes alone.
    result = st.packages.import_package(delta)
    assert result.kind == "delta" and version(st) == result.version > at
    now.update(hash=roll_hash(st), version=result.version)
    assert rejected(delta, "replayed delta").code == "replay"
    assert rejected(full, "older full package").code == "replay"


def test_a_roll_that_differs_from_the_base_rolls_back_whole(commission, make_station):
    st = make_station("ST-E")
    st.packages.import_package(package(commission, "ST-E"))
    at, cnic = version(st), next(iter(voters_at(st)))
    with st.transaction() as s:  # the station's roll no longer is what the commission sent
        s.execute(update(Voter).where(Voter.cnic == cnic).values(address_en="edited locally"))
    record, templates = new_record(commission, "99999-0000002-1"), templates_of(commission, cnic, "99999-0000002-1")
    with commission.transaction() as s:
        add_voter(s, commission.cipher, record, templates)
    before = roll_hash(st)
    with pytest.raises(PackageRejected) as caught:
        st.packages.import_package(package(commission, "ST-E", base=at))
    assert caught.value.code == "hash_mismatch"
    assert roll_hash(st) == before and version(st) == at and "99999-0000002-1" not in voters_at(st)


def test_fresh_station_refuses_a_delta_and_unknown_keys(commission, make_station):
    st = make_station("ST-F", trust=False)
    with pytest.raises(PackageRejected) as caught:
        st.packages.import_package(package(commission, "ST-F"))
    assert caught.value.code == "no_trusted_key"
    install_trust(st.config, public_pem(load_commission_key(commission.config.keys_dir).public_key()))
    if revision(commission) == 1:  # a delta needs a later revision; run alone, no other test of the module made one
        elsewhere = next(iter(voters_at(commission, "PS-002")))
        with commission.transaction() as s:
            correct_voter(s, elsewhere, {"address_en": "House 1, Delta Street"})
    with pytest.raises(PackageRejected) as caught:
        st.packages.import_package(package(commission, "ST-F", base=1))
    assert caught.value.code == "wrong_base" and "full package first" in str(caught.value)
    with pytest.raises(Conflict):
        install_trust(st.config, public_pem(Ed25519PrivateKey.generate().public_key()))
    assert voters_at(st) == {} and version(st) == 0


def test_ballots_survive_a_new_full_package_and_voters_who_voted_cannot_be_removed(commission, make_station):
    st = make_station("ST-G")
    st.packages.import_package(package(commission, "ST-G"))
    cnic = next(iter(voters_at(st)))
    from station.db.models import utcnow

    with st.transaction() as s:
        s.execute(update(Voter).where(Voter.cnic == cnic).values(voted_at=utcnow()))
    with commission.transaction() as s:
        correct_voter(s, cnic, {"address_en": "House 1, New Address"})
    result = st.packages.import_package(package(commission, "ST-G"))
    assert result.kind == "full" and result.updated >= 1
    voter = voters_at(st)[cnic]
    assert voter.voted_at is not None and voter.address_en == "House 1, New Address"
    assert st.polling.start_verification(_officer(), cnic).state == "ALREADY_VOTED"
    at, before = version(st), roll_hash(st)
    with commission.transaction() as s:
        remove_voter(s, cnic, "duplicate")
    for data in (package(commission, "ST-G"), package(commission, "ST-G", base=at)):
        with pytest.raises(PackageRejected) as caught:
            st.packages.import_package(data)
        assert caught.value.code == "voted_voter_removed" and "already voted" in str(caught.value)
        assert version(st) == at and roll_hash(st) == before and voters_at(st)[cnic].voted_at is not None
    # the remedy the refusal names: the commission reinstates the voter; the next package is taken, and the voter
    # keeps the ballot
    with commission.transaction() as s:
        reinstate_voter(s, cnic, "already_voted")
    st.packages.import_package(package(commission, "ST-G", base=at))
    assert voters_at(st)[cnic].voted_at is not None and roll_hash(st) == roll_hash(commission, PS)
    assert st.polling.start_verification(_officer(), cnic).state == "ALREADY_VOTED"


def test_a_package_replaces_local_pending_registrations(commission, make_station):
    st = make_station("ST-H")
    st.packages.import_package(package(commission, "ST-H"))
    at, donor = version(st), next(iter(voters_at(st)))
    mine, theirs, only_theirs = "99999-0000003-3", "99999-0000004-4", "99999-0000005-5"
    local = [(new_record(st, c), templates_of(st, donor, c)) for c in (mine, theirs)]
    with st.transaction() as s:  # two local registrations, waiting for the commission
        first, second = (add_voter(s, st.cipher, record, templates, pending=True) for record, templates in local)
    assert first.revision is None and second.serial_number == first.serial_number + 1
    pending_hash = roll_hash(st)
    approved = [(new_record(commission, c), templates_of(commission, donor, c)) for c in (mine, only_theirs)]
    with commission.transaction() as s:  # the commission approves the first, and adds another voter
        for record, templates in approved:
            add_voter(s, commission.cipher, record, templates)
    assert pending_hash == roll_hash(st)  # pending voters are not on the roll's hash
    result = st.packages.import_package(package(commission, "ST-H", base=at))
    assert result.pending_replaced == 1
    assert roll_hash(st) == roll_hash(commission, PS)
    on_roll, pending = voters_at(st), voters_at(st, status="pending")
    assert mine in on_roll and only_theirs in on_roll and list(pending) == [theirs]
    serials = [v.serial_number for v in on_roll.values()] + [pending[theirs].serial_number]
    assert len(serials) == len(set(serials)) and all(n > 0 for n in serials)


def test_a_voter_of_an_imported_roll_is_verified_by_fingerprint(commission, make_station):
    st = make_station("ST-I")
    st.packages.import_package(package(commission, "ST-I"))
    officer = _officer()
    synthetic = [v for v in st.roll.list_voters(polling_station=PS) if not v.cnic.startswith("99999-")]  # not added here
    voter = next(v for v in synthetic if v.fingers and not v.voted)
    view = st.polling.start_verification(officer, voter.cnic)
    assert view.state == "IDENTIFIED" and view.next_finger in voter.fingers
    st.steering.present_fingerprint(officer, voter.cnic, view.next_finger)
    view = st.polling.capture_fingerprint(officer, view.id)
    assert view.state == "VERIFIED", view.message
    assert st.polling.issue_ballot(officer, view.id).state == "BALLOT_ISSUED"
    impostor = next(v for v in synthetic if v.cnic != voter.cnic and not v.voted)
    other = st.polling.start_verification(officer, impostor.cnic)
    st.steering.present_fingerprint(officer, voter.cnic, other.next_finger)
    assert st.polling.capture_fingerprint(officer, other.id).last_attempt.outcome != "match"


def test_a_station_refuses_a_roll_its_engine_cannot_match(commission, make_station):
    """Templates carry their engine and version: a station set to another engine refuses the package whole, with the
    reason, instead of matching leader_mcc_bozorth3 templates with bozorth3."""
    st = make_station("ST-F", fingerprint={"matcher": "bozorth3"})
    with pytest.raises(PackageRejected) as caught:
        st.packages.import_package(package(commission, "ST-F"))
    assert caught.value.code == "template_format"
    assert commission.fingerprint_matcher.template_format in str(caught.value) and "bozorth3" in str(caught.value)
    assert version(st) == 0 and not voters_at(st)
    [event] = [e for e in roll_events(st) if e["outcome"] == "rejected"]
    assert event["details"]["reason"] == "template_format"
    [check] = [c for c in st.doctor() if c[0] == "fingerprint engine"]
    assert check[1] and check[2].startswith("bozorth3, templates ISO19794-2:2005")
    gate = st.config.fingerprint.bozorth3
    assert f"1:1 at {gate.match_threshold}, captures of fewer than {gate.min_features} features retaken" in check[2]


def test_a_verification_against_a_reference_in_a_foreign_format_is_refused(commission, make_station):
    """A reference in a format the engine does not read (planted past the import check) is never matched: the
    capture is refused with a 409 naming the format, and doctor flags the roll."""
    st = make_station("ST-G")
    st.packages.import_package(package(commission, "ST-G"))
    officer = _officer()
    voter = next(v for v in st.roll.list_voters(polling_station=PS) if v.fingers and not v.voted)
    from station.db.models import BiometricReference

    with st.transaction() as s:
        s.execute(update(BiometricReference).where(BiometricReference.voter_id == voters_at(st)[voter.cnic].id)
                  .values(format="someone-elses/v9"))
    view = st.polling.start_verification(officer, voter.cnic)
    st.steering.present_fingerprint(officer, voter.cnic, view.next_finger)
    with pytest.raises(Conflict, match="someone-elses/v9"):
        st.polling.capture_fingerprint(officer, view.id)
    assert st.polling.get_verification(officer, view.id).state == "IDENTIFIED"  # no attempt was spent or logged
    [check] = [c for c in st.doctor() if c[0] == "fingerprint engine"]
    assert not check[1] and "cannot be matched" in check[2]


def test_commission_changes_are_checked(commission):
    cnic = next(iter(voters_at(commission)))
    again = new_record(commission, cnic)
    with commission.transaction() as s:
        start = current_revision(s)
        with pytest.raises(NotFound):
            remove_voter(s, "12345-0000000-1", "deceased")
        with pytest.raises(InvalidInput):
            remove_voter(s, cnic, "bored")
        with pytest.raises(InvalidInput):
            correct_voter(s, cnic, {"cnic": "12345-0000000-1"})
        with pytest.raises(InvalidInput):
            correct_voter(s, cnic, {"gender": "other"})
        with pytest.raises(NotFound):
            correct_voter(s, cnic, {"polling_station": "PS-404"})
        with pytest.raises(Conflict):
            add_voter(s, commission.cipher, again, [])
        assert current_revision(s) == start


def test_changes_between_follows_each_voter_across_revisions(commission):
    cnic = "99999-0000006-1"
    record, templates = new_record(commission, cnic), templates_of(commission, next(iter(voters_at(commission))), cnic)
    with commission.transaction() as s:
        base = current_revision(s)
        add_voter(s, commission.cipher, record, templates)
        middle = current_revision(s)
        correct_voter(s, cnic, {"polling_station": "PS-002"})
        end = current_revision(s)
        assert cnic not in changes_between(s, PS, base, end).upserts  # added and moved away: never here
        assert cnic in changes_between(s, "PS-002", base, end).upserts
        assert dict(changes_between(s, PS, middle, end).removals) == {cnic: "moved"}
        assert changes_between(s, PS, end, end).upserts == ()


def test_roll_hash_ignores_ballots_and_pending_voters_but_not_roll_fields(commission, make_station):
    st = make_station("ST-J")
    st.packages.import_package(package(commission, "ST-J"))
    before, cnic = roll_hash(st), next(iter(voters_at(st)))
    from station.db.models import utcnow

    with st.transaction() as s:
        s.execute(update(Voter).where(Voter.cnic == cnic).values(voted_at=utcnow()))
    assert roll_hash(st) == before
    with st.transaction() as s:
        s.execute(update(Voter).where(Voter.cnic == cnic).values(booth=Voter.booth + 1))
    assert roll_hash(st) != before
