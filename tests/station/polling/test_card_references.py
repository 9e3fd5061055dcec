"""A voter whose roll entry holds no fingerprints (or no face) is verified against the verified card's own: DG3's
ISO/IEC 19794-2 records, the face of DG2's photo; every attempt is logged with where its reference came from."""
import json

import cv2

from sqlalchemy import delete, select

from matching.datasets import labelled_photo_paths
from station.db.models import BiometricReference, MatchLogEntry, Voter
from station.roll import store as roll
from station.simulation.cards import virtual_card
from tests.support.paths import FACES


def _drop_roll_references(station, cnic: str, modality: str) -> None:
    with station.transaction() as s:
        voter_id = s.scalar(select(Voter.id).where(Voter.cnic == cnic))
        s.execute(delete(BiometricReference).where(BiometricReference.voter_id == voter_id,
                                                   BiometricReference.modality == modality))


def _verify_by_fingerprint(station, officer, cnic: str, view):
    """The holder presents the suggested finger until verified or out of attempts (a genuine print may miss once)."""
    while view.next_step == "fingerprint":
        station.steering.present_fingerprint(officer, cnic, view.next_finger)
        view = station.polling.capture_fingerprint(officer, view.id)
        if view.state == "VERIFIED":
            break
    return view


def _entries(station, session_id: str, event: str) -> list[dict]:
    with station.transaction() as s:
        rows = s.scalars(select(MatchLogEntry).where(MatchLogEntry.session_id == session_id,
                                                     MatchLogEntry.event == event).order_by(MatchLogEntry.seq))
        return [json.loads(r.body) for r in rows]


def test_no_fingerprints_on_the_roll_the_card_dg3_verifies(station, voters, officer):
    voter, impostor = voters.take(), voters.take()
    card = station.steering.voter_card(voter.cnic)  # the card holds the voter's prints (DG3)
    station.steering.simulated(officer, "card").insert(card)
    _drop_roll_references(station, voter.cnic, "fingerprint")
    try:
        view = station.polling.start_verification_from_card(officer)
    finally:
        station.steering.remove_card(officer)
    assert view.state == "IDENTIFIED" and view.next_step == "fingerprint"
    [used] = _entries(station, view.id, "card_references")
    assert used["outcome"] == "used" and used["details"]["modalities"] == ["fingerprint"]
    assert set(used["details"]["fingers"]) == set(voter.fingers)
    # the card read again continues the same verification: its references are not taken a second time
    station.steering.simulated(officer, "card").insert(card)
    try:
        again = station.polling.start_verification_from_card(officer)
    finally:
        station.steering.remove_card(officer)
    assert again.id == view.id and len(_entries(station, view.id, "card_references")) == 1
    with station.transaction() as s:
        from station.db.models import VerificationSession
        kept = s.get(VerificationSession, view.id).card_references
        assert sorted(r.position for r in kept) == sorted(voter.fingers)
    # another person's finger does not match the card's record...
    station.steering.present_fingerprint(officer, impostor.cnic, view.next_finger)
    view = station.polling.capture_fingerprint(officer, view.id)
    assert view.state == "IDENTIFIED" and view.last_attempt.outcome != "match"
    # ...the holder's does
    view = _verify_by_fingerprint(station, officer, voter.cnic, view)
    assert view.state == "VERIFIED", view.message
    attempts = _entries(station, view.id, "fingerprint_attempt")
    assert {a["details"]["reference"] for a in attempts} == {"card_dg3"} and len(attempts) >= 2
    assert [a["outcome"] for a in attempts][-1] == "match"


def test_a_typed_cnic_or_a_roll_with_prints_never_takes_the_card(station, voters, officer):
    voter = voters.take()
    station.steering.insert_card(officer, voter.cnic)
    try:
        view = station.polling.start_verification_from_card(officer)
    finally:
        station.steering.remove_card(officer)
    assert not _entries(station, view.id, "card_references")  # the roll has the prints: the card is not used
    view = _verify_by_fingerprint(station, officer, voter.cnic, view)
    assert view.state == "VERIFIED"
    assert {a["details"]["reference"] for a in _entries(station, view.id, "fingerprint_attempt")} == {"roll"}
    # typed CNIC, no prints on the roll: nothing to verify against, no card consulted
    other = voters.take()
    _drop_roll_references(station, other.cnic, "fingerprint")
    typed = station.polling.start_verification(officer, other.cnic)
    assert typed.next_step != "fingerprint" and not _entries(station, typed.id, "card_references")


def test_no_face_on_the_roll_the_card_dg2_photo_verifies(station, voters, officer):
    voter = voters.take(face=True)
    with station.transaction() as s:
        identity = roll.get_json_meta(s, "sim_faces")[voter.cnic]["identity"]
        view_of = roll.find_voter(s, voter.cnic)
    photo = labelled_photo_paths(FACES)[identity][0]  # the enrolment photo stands for the card's DG2 picture...
    image = cv2.imread(str(photo))
    scale = 320 / max(image.shape[:2])  # ...made as small as a card's (DG2 must fit the chip's 32 KB file)
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    card = virtual_card(station.config, view_of, [], face_jpeg=cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    station.steering.simulated(officer, "card").insert(card)
    _drop_roll_references(station, voter.cnic, "face")
    _drop_roll_references(station, voter.cnic, "fingerprint")  # straight to the face
    try:
        view = station.polling.start_verification_from_card(officer)
    finally:
        station.steering.remove_card(officer)
    [used] = _entries(station, view.id, "card_references")
    assert used["details"]["modalities"] == ["face"]
    assert view.next_step == "face", view
    station.steering.present_face(officer, voter.cnic)  # another photo of the same person
    view = station.polling.capture_face(officer, view.id)
    assert view.state == "VERIFIED" and view.decided_by == "face"
    assert _entries(station, view.id, "face_attempt")[-1]["details"]["reference"] == "card_dg2"
