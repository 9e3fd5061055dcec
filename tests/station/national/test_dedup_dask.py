"""The national 1:N search on Dask (station/national/dedup.py) on a LocalCluster of two worker processes: a commission
roll of 750 people (3,000 fingerprint templates and 750 faces, the benchmark's generators), read from the database
by both the sharded index and the single-process one (station/registration/dedup.py). Planted second registrations
must be found, fresh people must get no candidate at the configured thresholds, and every registrant's candidates
must be those of the single-process search."""
from __future__ import annotations


import numpy as np
import pytest

from matching.face import ENCODING_FORMAT
from station.bench import dedup as gallery
from station.bench.roll_scale import bench_roll, load_commission
from station.bench.search import perturb_face, synthetic_face_encodings
from station.national.cluster import dask_client
from station.national.dedup import Registrant, ShardedRollIndex, shard_of
from station.registration.dedup import RollBiometricIndex, SearchThresholds
from station.roll.store import EnrolledTemplate
from tests.support.stations import build_station

pytestmark = pytest.mark.slow

PEOPLE, PLANTED, FRESH, SEED = 750, 12, 24, 5


def _hits(hits):
    return [(h.cnic, h.fingers_matched, h.fingerprint_score, h.face_distance,
             sorted(map(str, (sorted(e.items()) for e in h.evidence)))) for h in hits]


@pytest.fixture(scope="module")
def world(tmp_path_factory, make_database_url):
    bases = gallery.cached_bases(gallery.default_cache_dir())
    faces, state = synthetic_face_encodings(PEOPLE + FRESH, SEED)
    roll = bench_roll(PEOPLE, SEED)
    refs = []
    for p, voter in enumerate(roll.voters):
        for f, finger in enumerate(gallery.FINGERS):
            refs.append(EnrolledTemplate(voter.cnic, "fingerprint", finger, gallery.TEMPLATE_FORMAT, 60,
                                         gallery.impression(bases, SEED, p, f, 0)))
        refs.append(EnrolledTemplate(voter.cnic, "face", "face", ENCODING_FORMAT, 180, faces[p].astype("<f4").tobytes()))
    commission = build_station(tmp_path_factory.mktemp("national-commission"), make_database_url(),
                               fingerprint={"matcher": "bozorth3"})
    commission.init()
    load_commission(commission, roll, refs)
    engine = commission.fingerprint_matcher
    rng = np.random.default_rng(SEED)
    planted = [int(p) for p in rng.choice(PEOPLE, PLANTED, replace=False)]
    registrants = []
    for k, p in enumerate(planted + list(range(PEOPLE, PEOPLE + FRESH))):
        dup = k < PLANTED
        fingers = tuple((finger, engine.reference(gallery.TEMPLATE_FORMAT, gallery.impression(
            bases, SEED, p, f, 1 if dup else 0))) for f, finger in enumerate(reversed(gallery.FINGERS)))
        face = perturb_face(faces[p:p + 1], state, rng)[0] if dup else faces[p]
        registrants.append(Registrant(fingers, face))
    yield commission, [roll.voters[p].cnic for p in planted], registrants
    commission.close()


@pytest.fixture(scope="module")
def searched(world):
    commission, planted, registrants = world
    thresholds = SearchThresholds.from_config(commission.config)
    single = RollBiometricIndex(commission.fingerprint_matcher)
    with commission.transaction() as s:
        single.refresh(s, commission.cipher)
    expected = [single.search(list(r.fingers), r.face, thresholds) for r in registrants]
    with dask_client("local", workers=2) as client:
        index = ShardedRollIndex(client, commission.fingerprint_matcher, shards=3)  # more shards than workers
        with commission.transaction() as s:
            read = index.refresh(s, commission.cipher)
        stats = index.stats()
        got = index.search_many(registrants[:20], thresholds) + index.search_many(registrants[20:], thresholds)
        one = index.search(list(registrants[0].fingers), registrants[0].face, thresholds)
        placement = index.placement
        index.close()
    return dict(expected=expected, got=got, one=one, read=read, stats=stats, placement=placement,
                planted=planted, single_size=len(single))


def test_the_roll_is_split_over_shards_on_both_workers(searched):
    assert searched["read"] == PEOPLE * 5
    assert sum(s.fingerprints for s in searched["stats"]) == searched["single_size"] == PEOPLE * 4
    assert sum(s.faces for s in searched["stats"]) == PEOPLE
    assert all(s.fingerprints > PEOPLE for s in searched["stats"])  # none empty: the CNIC hash spreads people
    assert len(set(searched["placement"])) == 2


def test_planted_duplicates_are_found(searched):
    for cnic, hits in zip(searched["planted"], searched["got"][:PLANTED]):
        assert cnic in [h.cnic for h in hits]
        assert hits[0].cnic == cnic and hits[0].fingers_matched >= 1 and hits[0].face_distance is not None


def test_fresh_people_get_no_candidate(searched):
    assert [hits for hits in searched["got"][PLANTED:] if hits] == []


def test_the_same_candidates_as_the_single_process_search(searched):
    assert [_hits(h) for h in searched["got"]] == [_hits(h) for h in searched["expected"]]
    assert _hits(searched["one"]) == _hits(searched["expected"][0])


def test_a_person_is_on_one_shard():
    assert len({shard_of("34101-1234567-1", 7) for _ in range(3)}) == 1
    assert {shard_of(f"34101-{i:07d}-1", 4) for i in range(200)} == {0, 1, 2, 3}
