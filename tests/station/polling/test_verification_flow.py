"""The verification flow through the station's services, on simulated devices."""
import dataclasses
import json
import threading

import pytest

from station.errors import Conflict, DeviceUnavailable, InvalidInput, NotPermitted
from station.security.users import Principal
from tests.support.paths import FACES
from tests.support.require import DATASETS_HOW, require


def verify_by_fingerprint(station, officer, voter):
    station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
    view = station.polling.start_verification(officer, voter.cnic)
    assert view.state == "IDENTIFIED" and view.next_step == "fingerprint"
    return station.polling.capture_fingerprint(officer, view.id)


def test_genuine_voter_is_verified_and_gets_one_ballot(station, voters, officer):
    voter = voters.take()
    view = verify_by_fingerprint(station, officer, voter)
    assert view.state == "VERIFIED" and view.decided_by == "fingerprint"
    assert view.last_attempt.score >= view.last_attempt.threshold
    assert station.polling.issue_ballot(officer, view.id).state == "BALLOT_ISSUED"
    with pytest.raises(Conflict):
        station.polling.issue_ballot(officer, view.id)
    again = station.polling.start_verification(officer, voter.cnic)
    assert again.state == "ALREADY_VOTED"
    with pytest.raises(Conflict):
        station.polling.issue_ballot(officer, again.id)


def test_impostor_is_not_verified_after_all_attempts(station, voters, officer, presiding):
    # the impostor is someone registered elsewhere (never handed out by the pool, so not drawn in an order that
    # depends on which tests ran before): a different synthetic person, whose prints the engine falsely matches at
    # about 0.05% per attempt (station bench policy), so the flow, not the engine's accuracy, is what this tests
    victim = voters.take()
    here = station.config.station.polling_station
    impostor = next(v for v in station.roll.list_voters() if v.polling_station != here)
    view = station.polling.start_verification(officer, victim.cnic)
    for finger in victim.fingers:
        station.steering.present_fingerprint(officer, impostor.cnic, finger)
    attempts = 0
    while view.next_step == "fingerprint":
        view = station.polling.capture_fingerprint(officer, view.id)
        attempts += 1
        assert view.last_attempt.score < view.last_attempt.threshold
    assert attempts == len(victim.fingers) * station.config.fingerprint.attempts_per_finger
    assert view.state == "NOT_VERIFIED" and view.next_step == "exception"
    with pytest.raises(Conflict):
        station.polling.issue_ballot(officer, view.id)
    with pytest.raises(NotPermitted):
        station.polling.record_exception(officer, view.id, "worn_prints", None)
    with pytest.raises(InvalidInput):
        station.polling.record_exception(presiding, view.id, "bribe", None)
    with pytest.raises(InvalidInput, match="needs a note"):
        station.polling.record_exception(presiding, view.id, "other", "  ")
    with pytest.raises(InvalidInput, match="needs a note"):  # invisible characters are no note
        station.polling.record_exception(presiding, view.id, "other", "\u200b\u2060")
    with pytest.raises(InvalidInput, match="must not contain .*001B"):
        station.polling.record_exception(presiding, view.id, "worn_prints", "\x1b[2J")
    view = station.polling.record_exception(presiding, view.id, "worn_prints", "thumbs callused")
    assert view.state == "EXCEPTION"
    assert station.polling.issue_ballot(officer, view.id).state == "BALLOT_ISSUED"


def test_identifying_again_continues_the_open_verification_and_never_resets_its_attempts(station, voters, officer,
                                                                                          presiding):
    """Each verification has its attempts (two thumbs x two); when they all fail the presiding officer decides. A new
    identification of the same voter used to open a new verification with all its attempts again, so an impostor
    could be tried again and again and the presiding officer never asked. Now it continues the voter's open
    verification (a second identify entry in the log, for the auditors): a failed one stays NOT_VERIFIED."""
    victim = voters.take()
    here = station.config.station.polling_station
    impostor = next(v for v in station.roll.list_voters() if v.polling_station != here)
    first = station.polling.start_verification(officer, victim.cnic)
    station.steering.present_fingerprint(officer, impostor.cnic, victim.fingers[0])
    view = station.polling.capture_fingerprint(officer, first.id)
    assert view.state == "IDENTIFIED" and view.last_attempt.outcome == "no_match"
    again = station.polling.start_verification(officer, victim.cnic)
    assert again.id == first.id and again.state == "IDENTIFIED"
    assert again.fingerprint_attempts_left == view.fingerprint_attempts_left  # not reset
    for finger in victim.fingers:
        station.steering.present_fingerprint(officer, impostor.cnic, finger)
    while view.next_step == "fingerprint":
        view = station.polling.capture_fingerprint(officer, first.id)
    assert view.state == "NOT_VERIFIED"
    again = station.polling.start_verification(officer, victim.cnic)
    assert again.id == first.id and again.state == "NOT_VERIFIED" and again.next_step == "exception"
    view = station.polling.record_exception(presiding, first.id, "worn_prints", "thumbs callused")
    assert station.polling.start_verification(officer, victim.cnic).id == first.id  # ballot still to issue
    assert station.polling.issue_ballot(officer, first.id).state == "BALLOT_ISSUED"
    assert station.polling.start_verification(officer, victim.cnic).state == "ALREADY_VOTED"

def test_not_on_roll_says_where_the_voter_is_registered(station, officer):
    elsewhere = next(v for v in station.roll.list_voters() if v.polling_station != station.config.station.polling_station)
    view = station.polling.start_verification(officer, elsewhere.cnic)
    assert view.state == "NOT_ON_ROLL"
    assert view.registered_at["polling_station"] == elsewhere.polling_station
    nowhere = station.polling.start_verification(officer, "12345-1234567-1")
    assert nowhere.state == "NOT_ON_ROLL" and nowhere.registered_at is None


def test_gender_digit_mismatch_is_flagged(station, voters, officer):
    from sqlalchemy import update

    from station.db.models import Voter

    voter = voters.take()
    flipped = "female" if voter.gender == "male" else "male"
    with station.transaction() as s:
        s.execute(update(Voter).where(Voter.cnic == voter.cnic).values(gender=flipped))
    view = station.polling.start_verification(officer, voter.cnic)
    assert view.gender_mismatch is True and "gender digit" in view.message


def test_device_fault_is_reported_and_costs_no_attempt(station, voters, officer, tokens):
    voter = voters.take()
    station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
    view = station.polling.start_verification(officer, voter.cnic)
    station.steering.fault(Principal("tech", "technician"), "fingerprint", "disconnect")
    with pytest.raises(DeviceUnavailable, match="disconnected"):
        station.polling.capture_fingerprint(officer, view.id)
    view = station.polling.get_verification(officer, view.id)
    assert view.fingerprint_attempts_left == len(voter.fingers) * station.config.fingerprint.attempts_per_finger
    assert station.polling.capture_fingerprint(officer, view.id).state == "VERIFIED"


def test_no_finger_on_scanner_is_a_clear_device_message(station, voters, officer):
    voter = voters.take()
    view = station.polling.start_verification(officer, voter.cnic)
    station.devices.open("fingerprint").withdraw()
    with pytest.raises(DeviceUnavailable, match="no finger"):
        station.polling.capture_fingerprint(officer, view.id)


def test_poor_quality_capture_asks_for_a_retry_or_matches(station, voters, officer):
    voter = voters.take()
    station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0], "worn")
    view = station.polling.start_verification(officer, voter.cnic)
    view = station.polling.capture_fingerprint(officer, view.id)
    attempt = view.last_attempt
    assert attempt.outcome in ("match", "no_match", "poor_quality")
    if attempt.outcome == "poor_quality":
        assert "NFIQ2" in attempt.reason


def test_a_print_with_too_few_features_is_an_unusable_attempt_not_a_comparison(station, voters, officer,
                                                                             monkeypatch):
    from sqlalchemy import select

    from station.db.models import MatchLogEntry

    configured = station.polling.flow.min_features
    assert configured == station.config.fingerprint.engine.min_features > 0  # the live station gates its captures
    voter = voters.take()
    monkeypatch.setattr(station.polling, "flow", dataclasses.replace(station.polling.flow, min_features=10_000))
    view = verify_by_fingerprint(station, officer, voter)  # the genuine voter's own normal print
    attempt = view.last_attempt
    assert view.state != "VERIFIED" and attempt.outcome == "poor_quality" and attempt.score == 0
    assert "at least 10000 needed" in attempt.reason and "place the finger flat" in attempt.reason
    assert view.fingerprint_attempts_left == len(voter.fingers) * station.config.fingerprint.attempts_per_finger - 1
    with station.transaction() as s:
        entry = s.scalars(select(MatchLogEntry).where(MatchLogEntry.session_id == view.id)
                          .order_by(MatchLogEntry.seq.desc())).first()
    features = json.loads(entry.details)["features"]
    assert entry.event == "fingerprint_attempt" and configured <= features < 10_000  # logged: what the gate judged
    monkeypatch.undo()  # the configured gate: the same finger, placed again, is compared and matches
    assert station.polling.capture_fingerprint(officer, view.id).state == "VERIFIED"


def _second_verified_session(station, session_id: str) -> str:
    """Another VERIFIED verification of the same voter, written straight into the database: identifying a voter again
    continues the open one, so the flow itself no longer makes two; the ballot's own guard is what is tested."""
    import uuid

    from station.db.models import VerificationSession

    with station.transaction() as s:
        first = s.get(VerificationSession, session_id)
        copy = VerificationSession(**{c.name: getattr(first, c.name) for c in VerificationSession.__table__.columns
                                      if c.name != "id"}, id=str(uuid.uuid4()))
        s.add(copy)
        return copy.id


def test_of_two_concurrent_ballots_exactly_one_succeeds(station, voters, officer):
    voter = voters.take()
    first = verify_by_fingerprint(station, officer, voter)
    second = station.polling.get_verification(officer, _second_verified_session(station, first.id))
    assert first.state == second.state == "VERIFIED" and first.id != second.id
    results, barrier = [], threading.Barrier(2)

    def ballot(session_id):
        barrier.wait()
        try:
            results.append(station.polling.issue_ballot(officer, session_id).state)
        except Conflict as exc:
            results.append(f"conflict: {exc}")

    threads = [threading.Thread(target=ballot, args=(v.id,)) for v in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.split(":")[0] for r in results) == ["BALLOT_ISSUED", "conflict"]


def test_face_fallback_after_fingerprints_fail(station, voters, officer):
    require(voters.with_face, f"an unused voter with a face photo in the test roll (photos from {FACES})", DATASETS_HOW)
    # another person's prints are presented for every finger attempt. An impostor's print passes with a small
    # probability (bench policy measures it; synthetic impostors score highest), and a genuine face is refused with
    # a small one too (its live photo and enrolled photo are different pictures; bench policy measures that as well):
    # should this voter meet either, the test is tried with a fresh pair - once; twice in a row would be a finding.
    outcomes = []
    for tries in range(2):
        voter, impostor = voters.take(face=True), voters.take()
        view = station.polling.start_verification(officer, voter.cnic)
        for finger in voter.fingers:
            station.steering.present_fingerprint(officer, impostor.cnic, finger)
        while view.next_step == "fingerprint":
            view = station.polling.capture_fingerprint(officer, view.id)
        if view.state == "VERIFIED":
            outcomes.append("impostor print accepted")
            continue
        assert view.state == "IDENTIFIED" and view.next_step == "face"
        station.steering.present_face(officer, voter.cnic)
        while view.next_step == "face":
            view = station.polling.capture_face(officer, view.id)
        if view.state == "VERIFIED":
            break
        outcomes.append(f"genuine face refused ({view.state}, last distance {view.last_attempt.score})")
    assert view.state == "VERIFIED" and view.decided_by == "face", outcomes
    assert view.last_attempt.score <= station.config.face.match_threshold


def test_face_of_another_person_is_not_verified(station, voters, officer):
    require(len(voters.with_face) >= 2, f"two unused voters with a face photo in the test roll (photos from {FACES})",
            DATASETS_HOW)
    voter, other = voters.take(face=True), voters.take(face=True)
    view = station.polling.start_verification(officer, voter.cnic)
    station.steering.present_fingerprint(officer, other.cnic, voter.fingers[0])
    for finger in voter.fingers:
        station.steering.present_fingerprint(officer, other.cnic, finger)
    while view.next_step == "fingerprint":
        view = station.polling.capture_fingerprint(officer, view.id)
    station.steering.present_face(officer, other.cnic)
    while view.next_step == "face":
        view = station.polling.capture_face(officer, view.id)
        assert view.last_attempt.outcome != "match"
    assert view.state == "NOT_VERIFIED"
