"""station/simulation/biometrics.py ``fingerprint_references`` with a templates file: one file serves the rolls of a
seed whatever their size (a roll of n voters holds the first n people of any larger roll of its seed), a finger is
enrolled once, and what comes back is what an enrolment without the file gives, in the roll's order."""
import json

from station.roll.store import EnrolledTemplate
from station.simulation import biometrics
from station.simulation.roll import build_roll


def fake_enrolment(monkeypatch, calls: list):
    """The enrolment of one finger, without rendering or extracting: its template names its subject."""
    def enrol(job):
        cnic, finger, subject = job
        calls.append(subject)
        return EnrolledTemplate(cnic, "fingerprint", finger, "fake/v1", len(subject), subject.encode())

    monkeypatch.setattr(biometrics, "_enrol_finger", enrol)
    monkeypatch.setattr(biometrics, "_init_worker", lambda *args: None)


def test_a_smaller_roll_of_the_same_seed_holds_the_first_people_of_the_larger():
    small, large = build_roll(7, 13), build_roll(30, 13)
    assert {v.cnic for v in small.voters} < {v.cnic for v in large.voters}


def test_rolls_of_one_seed_share_the_file_and_enrol_each_finger_once(tmp_path, monkeypatch):
    calls: list[str] = []
    fake_enrolment(monkeypatch, calls)
    fingers = ("right_thumb", "left_thumb")
    file = tmp_path / "seed-13.json"

    def references(voters: int, templates_file=file):
        return biometrics.fingerprint_references(build_roll(voters, 13), fingers, tmp_path / "masters",
                                                 engine="unused", workers=1, templates_file=templates_file)

    small = references(5)
    assert len(calls) == 10 and len(json.loads(file.read_text())) == 10
    large = references(12)
    assert len(calls) == 24  # only the 7 people the small roll lacked were enrolled
    assert len(json.loads(file.read_text())) == 24
    assert references(12) == large and references(5) == small and len(calls) == 24  # read, not enrolled again
    uncached = references(12, templates_file=None)
    assert large == uncached  # the same templates, in the roll's order (voter by voter, finger by finger)
    assert [(t.cnic, t.position) for t in large] == [(v.cnic, f) for v in build_roll(12, 13).voters for f in fingers]
