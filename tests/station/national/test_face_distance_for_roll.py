"""The 1:N face searches take their distance for the roll's size (``face.distance_for``, from the face impostor tail),
never the 1:1 distance: the registration centre's and ``roll admit``'s single-process search
(station/registration/dedup.py ``RollBiometricIndex``) and the commission's sharded one on Dask
(station/national/dedup.py ``ShardedRollIndex``, with the WHOLE roll's number of faces, not a shard's).

A registrant's face lies at 0.435 from one roll voter's: within the 1:1 distance (0.52), outside the distance for a
roll of 300 faces (about 0.55 - 0.05 x log10(300) = 0.426), inside the one for a shard's half of it (about 150
faces: 0.441). On a roll of that one voter the face is a candidate (the distance for one comparison is capped at the
1:1 one); on the roll of 300 it is not, with one shard or two."""
from __future__ import annotations

import math

import numpy as np
import pytest

from matching.face import ENCODING_FORMAT
from station.bench.roll_scale import bench_roll, load_commission
from station.national.cluster import dask_client
from station.national.dedup import Registrant, ShardedRollIndex
from station.registration.dedup import RollBiometricIndex, SearchThresholds
from station.roll.store import EnrolledTemplate
from tests.support.stations import build_station

pytestmark = pytest.mark.slow

FACE = {"match_threshold": 0.52, "distance_at_fmr_1e3": 0.55, "distance_per_decade": 0.05}
ROLL, SEED, NEAR = 300, 9, 0.435


def _faces(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n roll faces (voter 0 first; every other one at least 1.0 from the registrant) and the registrant's face, NEAR
    from voter 0's."""
    rng = np.random.default_rng(SEED)
    v0 = rng.normal(0, 0.05, 128)
    u = rng.normal(size=128)
    u /= np.linalg.norm(u)
    others = v0 + rng.normal(0, 0.15, (max(0, n - 1), 128))  # ~1.7 from voter 0
    roll = np.vstack([v0[None, :], others]).astype(np.float32)
    probe = (v0 + NEAR * u).astype(np.float32)
    assert np.linalg.norm(roll[0] - probe) == pytest.approx(NEAR, abs=1e-5)
    assert n == 1 or np.linalg.norm(roll[1:] - probe, axis=1).min() > 1.0
    return roll, probe


@pytest.fixture(scope="module", params=[1, ROLL], ids=["one-voter-roll", "300-voter-roll"])
def commission(request, tmp_path_factory, make_database_url):
    n = request.param
    roll = bench_roll(n, SEED)
    faces, probe = _faces(n)
    refs = [EnrolledTemplate(v.cnic, "face", "face", ENCODING_FORMAT, 180, faces[i].astype("<f4").tobytes())
            for i, v in enumerate(roll.voters)]
    st = build_station(tmp_path_factory.mktemp(f"face-roll-{n}"), make_database_url(),
                       fingerprint={"matcher": "bozorth3"}, face=FACE)
    st.init()
    load_commission(st, roll, refs)
    yield st, n, roll.voters[0].cnic, probe
    st.close()


def _expected(n: int) -> tuple[float, bool]:
    distance = min(FACE["match_threshold"], FACE["distance_at_fmr_1e3"] - FACE["distance_per_decade"]
                   * math.log10(0.001 / -math.expm1(math.log1p(-0.001) / n)))
    return distance, NEAR <= distance


def test_the_distance_is_the_roll_size_one(commission):
    st, n, _cnic, _probe = commission
    thresholds = SearchThresholds.from_config(st.config)
    distance, _ = _expected(n)
    assert thresholds.face_distance(n) == pytest.approx(distance, abs=1e-9)
    assert (n == 1) == (thresholds.face_distance(n) == FACE["match_threshold"])  # one face: capped at 1:1
    assert n == 1 or thresholds.face_distance(n) < NEAR < FACE["match_threshold"]


def test_registration_search_uses_the_roll_size_distance(commission):
    st, n, cnic, probe = commission
    index = RollBiometricIndex(st.fingerprint_matcher)
    with st.transaction() as s:
        index.refresh(s, st.cipher)
    hits = index.search([], probe, SearchThresholds.from_config(st.config))
    distance, candidate = _expected(n)
    assert [h.cnic for h in hits] == ([cnic] if candidate else [])
    if candidate:  # the evidence names the distance this search used
        assert hits[0].evidence == [{"modality": "face", "distance": pytest.approx(NEAR, abs=1e-4),
                                     "rule": "face", "threshold": round(distance, 4)}]


def test_national_search_uses_the_whole_rolls_size(commission):
    """Two shards: each holds about half the roll's faces, but the distance is the one for all of them."""
    st, n, cnic, probe = commission
    thresholds = SearchThresholds.from_config(st.config)
    with dask_client("local", workers=1) as client:
        index = ShardedRollIndex(client, st.fingerprint_matcher, shards=2)
        with st.transaction() as s:
            index.refresh(s, st.cipher)
        held = [s.faces for s in index.stats()]
        hits = index.search_many([Registrant((), probe)], thresholds)[0]
        index.close()
    assert sum(held) == n
    distance, candidate = _expected(n)
    assert [h.cnic for h in hits] == ([cnic] if candidate else [])
    if n > 1:  # at a shard's own number of faces the face WOULD be a candidate: the whole roll's count decides
        assert thresholds.face_distance(max(held)) > NEAR > thresholds.face_distance(n)
    if candidate:
        assert hits[0].evidence[0]["threshold"] == round(distance, 4)
