"""1:N fingerprint search on the engine's own representation: locality-sensitive hashing of binary Minutia
Cylinder-Codes, then re-ranking by the full matcher.

After Cappelli, Ferrara and Maltoni, "Fingerprint indexing based on Minutia Cylinder-Code", IEEE TPAMI 33(5), 2011:
a cylinder is a bit vector (ns x ns cells x nd direction bins, matching/fingerprint_pipeline.py), and two cylinders of
the same minutia seen twice agree on most bits, two cylinders of different minutiae on fewer. Each of ``functions``
hash functions reads ``bits`` fixed bit positions of a cylinder (drawn once, from a fixed seed, among the cells well
inside the cylinder, which are valid in any valid cylinder) and packs them into a key; two cylinders collide on a
function when they agree on all of its bits, which happens far more often for the same minutia than for another one.

The index is an inverted file from (function, key) to the labels of the templates holding a cylinder with that key
(sorted once, looked up by binary search; re-sorted lazily after adds). A probe template's cylinders are hashed the
same way; each collision is a vote for the template, keys whose bits are all zero (a cylinder region with no
neighbour) are not indexed, and a template's votes are divided by the square root of its cylinder count (a template
with many cylinders collides more by chance). The ``shortlist`` templates with most votes are re-ranked by a callable
the caller passes (the engine's comparison), and the best k returned.

Input: the (n_cylinders, ns*ns*nd) uint8 0/1 cylinder bits of a template, cell-major (cell = row * ns + column, then
the direction bin), as ``LeaderFusionMatcher.cylinder_bits`` gives them.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from typing import Callable, Hashable

import numpy as np

from .errors import MatchingError


@dataclass(frozen=True)
class CylinderHashParams:
    functions: int = 16  # hash functions (L)
    bits: int = 28  # bits read by each (h)
    ns: int = 16  # cylinder cells per side (MccParams.ns)
    nd: int = 6  # direction bins (MccParams.nd)
    inner: float = 0.7  # cells whose centre lies within this share of the cylinder's radius
    seed: int = 2011


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


class CylinderIndex:
    """LSH over binary cylinders as a candidate filter, with caller-supplied re-ranking."""

    def __init__(self, params: CylinderHashParams | None = None) -> None:
        self.params = params or CylinderHashParams()
        self._keys = CylinderKeys(self.params)
        self._ids: list = []  # label -> id (None once removed)
        self._labels: dict = {}
        self._n_cylinders: list[int] = []
        self._pending_codes: list[np.ndarray] = []
        self._pending_labels: list[np.ndarray] = []
        self._codes = np.zeros(0, self._keys.dtype)  # sorted
        self._code_labels = np.zeros(0, np.int32)
        self._norm: np.ndarray | None = None
        self._removed: set[int] = set()

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, id_: Hashable) -> bool:
        return id_ in self._labels

    def add(self, id_: Hashable, bits: np.ndarray) -> int:
        """Enrols one template by its cylinder bits; returns the number of codes indexed (0: it cannot be found)."""
        if id_ in self._labels:
            raise ValueError(f"id {id_!r} is already in the index")
        if not isinstance(id_, (int, str)) or isinstance(id_, bool):
            raise TypeError("ids must be int or str")
        codes = np.unique(self._keys.keys(bits))
        label = len(self._ids)
        self._ids.append(id_)
        self._labels[id_] = label
        self._n_cylinders.append(len(bits))
        self._pending_codes.append(codes)
        self._pending_labels.append(np.full(len(codes), label, np.int32))
        self._norm = None
        return len(codes)

    def remove(self, id_: Hashable) -> bool:
        label = self._labels.pop(id_, None)
        if label is None:
            return False
        self._ids[label] = None
        self._removed.add(label)
        return True

    def _table(self) -> None:
        if not self._pending_codes:
            return
        codes = np.concatenate([self._codes, *self._pending_codes])
        labels = np.concatenate([self._code_labels, *self._pending_labels])
        self._pending_codes, self._pending_labels = [], []
        order = np.argsort(codes, kind="stable")
        self._codes, self._code_labels = codes[order], labels[order]

    def memory_bytes(self) -> int:
        self._table()
        return int(self._codes.nbytes + self._code_labels.nbytes + 8 * len(self._n_cylinders))

    def probe_keys(self, bits: np.ndarray) -> np.ndarray:
        """A probe's distinct codes (what ``candidates_for_keys`` looks up), computed once for several shards."""
        return np.unique(self._keys.keys(bits))

    def candidates(self, bits: np.ndarray, shortlist: int = 500) -> list[tuple[Hashable, float]]:
        """The ``shortlist`` templates with most (normalised) collisions, best first: (id, votes)."""
        return self.candidates_for_keys(self.probe_keys(bits), shortlist)

    def candidates_for_keys(self, codes: np.ndarray, shortlist: int = 500) -> list[tuple[Hashable, float]]:
        self._table()
        n = len(self._ids)
        if n == 0 or not self._labels or codes.size == 0:
            return []
        starts = np.searchsorted(self._codes, codes, side="left")
        lengths = np.searchsorted(self._codes, codes, side="right") - starts
        nz = lengths > 0
        starts, lengths = starts[nz], lengths[nz]
        total = int(lengths.sum())
        if total == 0:
            return []
        shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        votes = np.bincount(self._code_labels[shift + np.arange(total)], minlength=n).astype(np.float64)
        if self._norm is None or len(self._norm) != n:
            self._norm = 1.0 / np.sqrt(np.maximum(np.asarray(self._n_cylinders, np.float64), 1.0))
        score = votes * self._norm
        if self._removed:
            score[np.fromiter(self._removed, dtype=np.int64)] = -1.0
        c = min(shortlist, n)
        top = np.argpartition(-score, c - 1)[:c] if c < n else np.arange(n)
        top = top[np.argsort(-score[top], kind="stable")]
        return [(self._ids[t], float(score[t])) for t in top if score[t] > 0]

    def search(self, bits: np.ndarray, k: int = 10, *, rerank: Callable[[Hashable], float] | None = None,
               shortlist: int = 500) -> list[tuple[Hashable, float]]:
        """Top k (id, score), best first: the shortlist by collisions re-ranked by ``rerank(id) -> score`` (higher =
        more similar). Without ``rerank`` the scores are the normalised votes."""
        cands = self.candidates(bits, shortlist=shortlist)
        if rerank is None:
            return cands[:k]
        scored = sorted(((cid, float(rerank(cid))) for cid, _ in cands), key=lambda t: -t[1])
        return scored[:k]

    # ------------------------------------------------------------------ persistence
    def to_bytes(self) -> bytes:
        self._table()
        buf = io.BytesIO()
        header = json.dumps({"params": asdict(self.params), "ids": self._ids}).encode()
        np.savez(buf, header=np.frombuffer(header, np.uint8), codes=self._codes, labels=self._code_labels,
                 n_cylinders=np.asarray(self._n_cylinders, np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "CylinderIndex":
        try:
            z = np.load(io.BytesIO(data), allow_pickle=False)
            header = json.loads(z["header"].tobytes())
            self = cls(CylinderHashParams(**header["params"]))
            codes, labels, n_cyl = z["codes"], z["labels"], z["n_cylinders"]
        except Exception as exc:  # noqa: BLE001 - any decoding failure means "not an index"
            raise MatchingError(f"not a cylinder index: {exc!r}") from None
        self._ids = header["ids"]
        self._labels = {i: lab for lab, i in enumerate(self._ids) if i is not None}
        self._removed = {lab for lab, i in enumerate(self._ids) if i is None}
        self._n_cylinders = n_cyl.tolist()
        self._codes, self._code_labels = codes, labels
        return self
