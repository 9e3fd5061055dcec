"""1:N fingerprint search: a minutia-triplet index as a candidate filter, then re-ranking by the full matcher.

Every template is cut into triangles of minutiae (each minutia with pairs of its ``neighbours`` nearest minutiae).
A triangle's key is invariant to rotation and translation: its three side lengths (sorted, quantised), its handedness
and the direction of each vertex's minutia relative to the side leaving that vertex (quantised). The index is an
inverted file from key to the templates holding a triangle with that key (matching/search_votes.py). A probe's triangles are looked up with multi-probing (the two nearest bins of every feature, so that noise
at a bin edge does not lose the triangle); each template gets one vote per hit, normalised by the square root of its
triangle count. The ``shortlist`` templates with most votes are re-ranked by a callable the caller passes (for
instance bozorth3 of the probe against the stored ISO template), and the best k returned.

Minutiae arrays are (n, >=3): x, y in pixels (y down), angle in degrees as ISO/IEC 19794-2 stores it
(counter-clockwise as seen on the image; the value of nbis ``Minutia.angle()``); further columns are ignored.
``minutiae_from_iso`` reads them from a template (matching/iso19794.py) as bozorth3 sees them. Scores are the
re-ranker's (higher = more similar); the decision threshold is the caller's.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from itertools import combinations
from typing import Hashable

import numpy as np

from . import iso19794
from .search_votes import VoteIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TripletParams:
    neighbours: int = 6  # triangles: each minutia with every pair of its nearest neighbours
    side_bin_px: float = 14.0
    min_side_px: float = 12.0
    max_side_px: float = 168.0  # longest side kept (12 bins)
    angle_bins: int = 12  # 30 degrees per bin
    max_minutiae: int = 120  # templates with more minutiae keep the most reliable / first ones


def minutiae_from_iso(template: bytes) -> np.ndarray:
    """(n, 4) float64 array x, y, angle (degrees, ISO), kind (1 ending, 2 bifurcation) of an ISO 19794-2:2005
    template in the layout nbis-py writes (matching/iso19794.py ``NBIS``: the station's templates), as nbis reads it
    for bozorth3: directions in its 32 steps of 11.25 degrees (the nearest, a half step rounded down), every type
    but a bifurcation an ending. ExtractionFailed when the bytes are not such a record."""
    m = iso19794.read_minutiae(template, iso19794.NBIS).minutiae
    angle = ((m[:, iso19794.ANGLE] + 3) // 8 % 32) * 11.25
    kind = np.where(m[:, iso19794.TYPE] == iso19794.BIFURCATION, 2, 1)
    return np.stack([m[:, iso19794.X], m[:, iso19794.Y], angle, kind], axis=1).astype(np.float64).reshape(-1, 4)


_ANGLE_BITS = 4
_SIDE_BITS = 4


class TripletKeys:
    """Triangle keys of a minutiae array (enrolment: one key per triangle; probe: multi-probed keys)."""

    def __init__(self, params: TripletParams) -> None:
        self.p = params
        self.n_side_bins = int(math.ceil(params.max_side_px / params.side_bin_px))
        if self.n_side_bins > 2 ** _SIDE_BITS or params.angle_bins > 2 ** _ANGLE_BITS:
            raise ValueError("too many bins for the key layout")
        self.key_space = 2 ** (1 + 3 * _SIDE_BITS + 3 * _ANGLE_BITS)
        self._pairs = np.array(list(combinations(range(params.neighbours), 2)), dtype=np.int64).reshape(-1, 2)

    def features(self, minutiae: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Continuous features of the template's triangles: sides (t, 3) in bins, angles (t, 3) in bins,
        handedness (t,)."""
        p = self.p
        m = np.asarray(minutiae, dtype=np.float64)
        if m.ndim != 2 or m.shape[1] < 3:
            raise ValueError("minutiae must be an (n, 3+) array of x, y, angle")
        m = m[: p.max_minutiae]
        n = len(m)
        if n < 3:
            z = np.zeros((0, 3))
            return z, z, np.zeros(0, dtype=np.int64)
        xy = m[:, :2]
        theta = -np.radians(m[:, 2])  # pixel frame (y down)
        d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        np.fill_diagonal(d, np.inf)
        k = min(p.neighbours, n - 1)
        nn = np.argsort(d, axis=1)[:, :k]
        pairs = self._pairs[(self._pairs < k).all(1)]
        tri = np.concatenate([np.repeat(np.arange(n), len(pairs))[:, None],
                              nn[:, pairs[:, 0]].reshape(-1, 1), nn[:, pairs[:, 1]].reshape(-1, 1)], axis=1)
        tri = np.unique(np.sort(tri, axis=1), axis=0)
        # side opposite each vertex
        a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
        opp = np.stack([d[b, c], d[a, c], d[a, b]], axis=1)
        keep = (opp.min(1) >= p.min_side_px) & (opp.max(1) < p.max_side_px)
        tri, opp = tri[keep], opp[keep]
        if len(tri) == 0:
            z = np.zeros((0, 3))
            return z, z, np.zeros(0, dtype=np.int64)
        order = np.argsort(-opp, axis=1, kind="stable")  # vertex 0 faces the longest side
        v = np.take_along_axis(tri, order, axis=1)
        sides = np.take_along_axis(opp, order, axis=1) / p.side_bin_px
        p0, p1, p2 = xy[v[:, 0]], xy[v[:, 1]], xy[v[:, 2]]
        cross = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
        hand = (cross > 0).astype(np.int64)
        nxt = np.stack([p1 - p0, p2 - p1, p0 - p2], axis=1)  # side leaving each vertex
        side_dir = np.arctan2(nxt[..., 1], nxt[..., 0])
        rel = (theta[v] - side_dir) % (2 * np.pi)
        angles = rel / (2 * np.pi) * p.angle_bins
        return sides, angles, hand

    def _pack(self, s: np.ndarray, a: np.ndarray, hand: np.ndarray) -> np.ndarray:
        key = hand.astype(np.int64)
        for j in range(3):
            key = (key << _SIDE_BITS) | s[..., j]
        for j in range(3):
            key = (key << _ANGLE_BITS) | a[..., j]
        return key

    def enrol_keys(self, minutiae: np.ndarray) -> np.ndarray:
        sides, angles, hand = self.features(minutiae)
        s = np.clip(np.floor(sides).astype(np.int64), 0, self.n_side_bins - 1)
        a = np.floor(angles).astype(np.int64) % self.p.angle_bins
        return np.unique(self._pack(s, a, hand))

    def probe_keys(self, minutiae: np.ndarray) -> np.ndarray:
        """Keys of the two nearest bins of every feature (2^6 per triangle), grouped by triangle: (t, 64)."""
        sides, angles, hand = self.features(minutiae)
        if len(hand) == 0:
            return np.zeros((0, 64), dtype=np.int64)
        s0 = np.floor(sides).astype(np.int64)
        s_alt = np.where(sides - s0 >= 0.5, s0 + 1, s0 - 1)
        a0 = np.floor(angles).astype(np.int64)
        a_alt = np.where(angles - a0 >= 0.5, a0 + 1, a0 - 1)
        t = len(hand)
        bits = ((np.arange(64)[:, None] >> np.arange(6)[None, :]) & 1).astype(bool)  # (64, 6)
        s = np.where(bits[None, :, :3], s_alt[:, None, :], s0[:, None, :])  # (t, 64, 3)
        a = np.where(bits[None, :, 3:], a_alt[:, None, :], a0[:, None, :])
        bad = (s < 0) | (s >= self.n_side_bins)
        s = np.clip(s, 0, self.n_side_bins - 1)
        a = a % self.p.angle_bins
        keys = self._pack(s, a, np.broadcast_to(hand[:, None], (t, 64)))
        keys = np.where(bad.any(-1), -1, keys)
        return keys


class FingerprintIndex(VoteIndex):
    """Minutia-triplet candidate filter (matching/search_votes.py) with caller-supplied re-ranking."""

    def __init__(self, params: TripletParams | None = None, *, dense_lookup_above: int = 20_000_000) -> None:
        """``dense_lookup_above``: from this many indexed triangles on, a table of where each key's entries start
        (one int32 or int64 per possible key: 128 or 256 MiB) replaces the binary search of a probe's keys, whose
        cost hardly falls with the index's size (a shard of a large roll would pay it whole)."""
        self.params = params or TripletParams()
        self.dense_lookup_above = dense_lookup_above
        self._triplets = TripletKeys(self.params)
        self._starts: np.ndarray | None = None  # key -> first entry (key_space + 1 values) when dense
        super().__init__(np.int32)

    def add(self, id_: Hashable, minutiae: np.ndarray) -> int:
        """Enrols one template; returns the number of triangles indexed (0: too few minutiae to be found). Its votes
        are normalised by its number of triangles."""
        keys = self._triplets.enrol_keys(minutiae)
        return self._enrol(id_, keys, len(keys))

    def probe_keys(self, minutiae: np.ndarray) -> np.ndarray:
        """The probe's distinct multi-probed triangle keys (what ``candidates_for_keys`` looks up): they depend on
        the parameters only, so a probe searched in several indexes (shards) is keyed once."""
        probe = self._triplets.probe_keys(minutiae)
        return np.unique(probe[probe >= 0])

    def _sort(self) -> bool:
        if not super()._sort():
            return False
        self._starts = None
        if len(self._keys) >= self.dense_lookup_above:
            dtype = np.int32 if len(self._keys) < 2 ** 31 else np.int64
            self._starts = np.searchsorted(self._keys, np.arange(self._triplets.key_space + 1,
                                                                 dtype=self._keys.dtype)).astype(dtype)
        return True

    def _ranges(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._starts is None:
            return super()._ranges(keys)
        starts = self._starts[keys].astype(np.int64)
        return starts, self._starts[keys + 1] - starts

    def memory_bytes(self) -> int:
        held = super().memory_bytes()
        return held + (0 if self._starts is None else self._starts.nbytes)

    def _params(self) -> dict:
        return self.params.__dict__

    @classmethod
    def from_bytes(cls, data: bytes) -> "FingerprintIndex":
        return cls._load(data, lambda params: cls(TripletParams(**params)))
