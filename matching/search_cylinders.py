"""1:N fingerprint search on the engine's own representation: locality-sensitive hashing of binary Minutia
Cylinder-Codes, then re-ranking by the full matcher.

After Cappelli, Ferrara and Maltoni, "Fingerprint indexing based on Minutia Cylinder-Code", IEEE TPAMI 33(5), 2011:
a cylinder is a bit vector (ns x ns cells x nd direction bins, matching/fingerprint_pipeline.py), and two cylinders of
the same minutia seen twice agree on most bits, two cylinders of different minutiae on fewer. Each of ``functions``
hash functions reads ``bits`` fixed bit positions of a cylinder (drawn once, from a fixed seed, among the cells well
inside the cylinder, which are valid in any valid cylinder) and packs them into a key; two cylinders collide on a
function when they agree on all of its bits, which happens far more often for the same minutia than for another one.

The index is an inverted file from (function, key) to the templates holding a cylinder with that key
(matching/search_votes.py). A probe template's cylinders are hashed the same way; each collision is a vote for the
template, weighted by how rare its key is (``idf``: ``log(1 + N / df)``), keys whose bits are all zero (a cylinder
region with no neighbour) are not indexed, and a template's votes are divided by the square root of its cylinder count
(a template with many cylinders collides more by chance). The ``shortlist`` templates with most votes are re-ranked by
a callable the caller passes (the engine's comparison), and the best k returned.

The weighting was chosen on the parameters' development protocol (U.are.U impressions 3 and 6, 130 probes, none of
them a benchmark probe) against 100,000 synthetic fingers: mate in the filter's top 10 121 -> 126 of 130, top 50
124 -> 127 (``1 / sqrt(df)``: 122 and 127; ``log(N / df)`` squared: 125 and 125).

Input: the (n_cylinders, ns*ns*nd) uint8 0/1 cylinder bits of a template, cell-major (cell = row * ns + column, then
the direction bin), as ``LeaderFusionMatcher.cylinder_bits`` gives them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Hashable

import numpy as np

from .errors import MatchingError
from .search_votes import VoteIndex


@dataclass(frozen=True)
class CylinderHashParams:
    functions: int = 16  # hash functions (L)
    bits: int = 28  # bits read by each (h)
    ns: int = 16  # cylinder cells per side (MccParams.ns)
    nd: int = 6  # direction bins (MccParams.nd)
    inner: float = 0.7  # cells whose centre lies within this share of the cylinder's radius
    seed: int = 2011
    idf: bool = True  # a collision's vote weighs log(1 + N / templates holding the key) (matching/search_votes.py)


def hash_positions(p: CylinderHashParams) -> np.ndarray:
    """(functions, bits) bit positions in a cylinder's bit vector, each function's drawn without repeats among the
    inner cells' bits: the same for every index with these parameters."""
    centre = (np.arange(p.ns) - (p.ns - 1) / 2.0) / (p.ns / 2.0)  # cell centres in units of the radius
    gx, gy = np.meshgrid(centre, centre, indexing="xy")
    cells = np.nonzero(np.hypot(gx, gy).ravel() <= p.inner)[0]
    candidates = (cells[:, None] * p.nd + np.arange(p.nd)[None, :]).ravel()
    if p.bits > len(candidates) or p.bits > 30:
        raise ValueError(f"{p.bits} bits per function: at most min(30, {len(candidates)})")
    rng = np.random.default_rng(p.seed)
    return np.stack([np.sort(rng.choice(candidates, size=p.bits, replace=False)) for _ in range(p.functions)])


class CylinderKeys:
    """The (function, key) codes of a template's cylinders."""

    def __init__(self, params: CylinderHashParams) -> None:
        self.p = params
        self.positions = hash_positions(params)
        self._weights = (1 << np.arange(params.bits - 1, -1, -1, dtype=np.int64))
        self.width = params.ns * params.ns * params.nd
        self.dtype = np.uint32 if params.functions << params.bits <= 1 << 32 else np.int64  # 4 bytes a code if they fit

    def keys(self, bits: np.ndarray) -> np.ndarray:
        """Codes ``function << bits | key`` of every cylinder and function (``dtype``), all-zero keys left out."""
        bits = np.asarray(bits)
        if bits.ndim != 2 or bits.shape[1] != self.width:
            raise MatchingError(f"cylinder bits must be (n, {self.width}), not {bits.shape}")
        if len(bits) == 0:
            return np.zeros(0, self.dtype)
        picked = bits[:, self.positions].astype(np.int64)  # (n, functions, bits)
        values = picked @ self._weights  # (n, functions)
        codes = (np.arange(self.p.functions, dtype=np.int64)[None, :] << self.p.bits) | values
        return codes[values != 0].astype(self.dtype)


class CylinderIndex(VoteIndex):
    """LSH over binary cylinders as a candidate filter (matching/search_votes.py), with caller-supplied re-ranking."""

    def __init__(self, params: CylinderHashParams | None = None) -> None:
        self.params = params or CylinderHashParams()
        self._hash = CylinderKeys(self.params)
        super().__init__(self._hash.dtype, idf=self.params.idf)

    def add(self, id_: Hashable, bits: np.ndarray) -> int:
        """Enrols one template by its cylinder bits; returns the number of codes indexed (0: it cannot be found).
        Its votes are normalised by its number of cylinders."""
        return self._enrol(id_, np.unique(self._hash.keys(bits)), len(bits))

    def probe_keys(self, bits: np.ndarray) -> np.ndarray:
        """A probe's distinct codes (what ``candidates_for_keys`` looks up), computed once for several shards."""
        return np.unique(self._hash.keys(bits))

    def _params(self) -> dict:
        return asdict(self.params)

    @classmethod
    def from_bytes(cls, data: bytes) -> "CylinderIndex":
        return cls._load(data, lambda params: cls(CylinderHashParams(**params)))
