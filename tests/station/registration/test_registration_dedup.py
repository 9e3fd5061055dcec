"""The issue's acceptance script at the size of a test: 60 people register; 10 of them register a second time under
another CNIC, presenting other fingers in another order (two of their enrolled fingers, swapped, and two never
enrolled) and another face photo. At least 9 of the 10 must reach the adjudication queue naming their first CNIC;
fewer than 2% of the honest registrations (at most 1 of 60) may be sent there. Fingers from the project's synthetic
generator; faces from the labelled photo set beside the repository (13 people: the duplicates get two photos of one
person, three honest registrants one photo, everybody else a face exception).

The issue's full size - 200 people, 10 of them twice - is the benchmark's (`station bench registration --people 200
--duplicates 10 --json`, the same script, docs/registration.md): 210 registrations are 20 minutes of one test worker's
fingerprint work under make test's load (simulated masters, LEADER extraction, NFIQ quality, the search's 1:1
scores), which CI's 30 minutes cannot hold beside everything else. Here 70 registrations keep every rule of the search
at work against a roll of 40 voters and 60 registrants.

Runs on both databases (make test's PostgreSQL pass too: registrations, the duplicate search and the adjudication
queue on each). The captures' synthetic masters, templates and qualities, and the search's 1:1 scores, are
kept in .pytest_cache (tests/support/fingerprint_cache.py: by the exact pixels and template bytes, in a folder keyed by
the code and packages that decide them): the first pass computes them, the second reads them and repeats the database
work, the candidate search and its decisions, and the faces."""
from __future__ import annotations

import pytest

from tests.support.fingerprint_cache import cache_fingerprint_captures
from tests.support.require import require_path
from tests.support.stations import FACES, ROLL_SEED, build_station
from station.bench.registration import scripted_registration

pytestmark = pytest.mark.slow

PEOPLE = 60  # honest registrants: the 2% allows at most one of them in the queue


@pytest.fixture(scope="module")
def registration_day(tmp_path_factory, make_database_url):
    require_path(FACES, what=f"{FACES} (the face half of the duplicate search)")
    st = build_station(tmp_path_factory.mktemp("registration-day"), make_database_url())
    cache = cache_fingerprint_captures(st)
    st.init()
    st.synthesize_roll(40, ROLL_SEED)  # people already on the roll are searched too
    result = scripted_registration(st, people=PEOPLE, duplicates=10, faces_dir=str(FACES), seed=23)
    cache.save()
    st.close()
    return result


def test_planted_duplicates_reach_the_adjudication_queue(registration_day):
    r = registration_day
    assert r["duplicates_planted"] == 10 and r["duplicates_with_face_photos"] == 10
    assert r["duplicates_detected"] >= 9, r["missed"]


def test_honest_registrations_are_rarely_sent_to_adjudication(registration_day):
    r = registration_day
    assert r["honest_registrations"] == PEOPLE
    assert r["honest_sent_to_adjudication"] / r["honest_registrations"] < 0.02, r["false_alarms"]


def test_fingerprints_alone_catch_the_duplicates_that_kept_two_fingers(registration_day):
    """Faces help, but the fingerprint search must not be idle: two of each duplicate's fingers were enrolled."""
    assert registration_day["duplicates_detected_by"]["fingerprint"] >= 9
