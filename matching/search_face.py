"""1:N face search over 128-d face encodings with faiss (duplicate detection).

``FaceIndex`` holds N encodings with the caller's ids. Under ``exact_below`` templates it searches exactly (faiss
``IndexFlatL2``); from ``exact_below`` on it uses an inverted file (``IndexIVFFlat``: ``nlist ~ 4 sqrt(N)`` k-means
cells trained on a sample, ``nprobe`` cells visited per query). ``tune_nprobe`` picks the smallest ``nprobe`` whose
recall@k against exact search (the same index visiting every cell) reaches a target on sample queries.

Distances are Euclidean, on the same scale as ``face_recognition.face_distance`` and ``matching.face.face_distances``
(faiss works with squared L2; the square root is taken here). The decision threshold is the caller's:
``search(..., max_distance=...)`` only filters.

Ids are ints or strings (they go through ``to_bytes``/``from_bytes``); faiss sees internal int64 labels.
"""
from __future__ import annotations

import io
import json
import logging
import math
import struct
import threading
from typing import Hashable, Iterable, Sequence

import numpy as np

from .errors import MatcherUnavailable, MatchingError

log = logging.getLogger(__name__)

DIM = 128
_MAGIC = b"VSFACEIX1"


class FaceIndex:
    """Exact below ``exact_below`` encodings, IVF above. Not thread-safe for concurrent add/search (a lock guards
    mutations; searches from one thread at a time are the expected use)."""

    def __init__(self, *, dim: int = DIM, exact_below: int = 100_000, nlist: int | None = None,
                 nprobe: int | None = None, train_sample: int = 100_000, threads: int = 2, seed: int = 1234) -> None:
        self.dim = dim
        self.exact_below = exact_below
        self._nlist_override = nlist
        self._nprobe_override = nprobe
        self.train_sample = train_sample
        self.threads = threads
        self.seed = seed
        self._faiss = None
        self._index = None  # IndexIDMap2(IndexFlatL2) or IndexIVFFlat with a hashtable direct map (see vectors())
        self._ids: list = []  # label -> caller id (None once removed)
        self._labels: dict = {}  # caller id -> label
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ faiss (lazy)
    def _lib(self):
        if self._faiss is None:
            try:
                import faiss
            except ImportError as exc:
                raise MatcherUnavailable("faiss-cpu is not installed") from exc
            faiss.omp_set_num_threads(self.threads)
            self._faiss = faiss
        return self._faiss

    @property
    def kind(self) -> str:
        """'empty', 'exact' or 'ivf'."""
        if self._index is None:
            return "empty"
        return "ivf" if self._is_ivf() else "exact"

    def _is_ivf(self) -> bool:
        return self._index is not None and hasattr(self._index, "nprobe")

    @property
    def nlist(self) -> int | None:
        return int(self._index.nlist) if self._is_ivf() else None

    @property
    def nprobe(self) -> int | None:
        return int(self._index.nprobe) if self._is_ivf() else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if not self._is_ivf():
            raise MatchingError("nprobe applies to an IVF index only")
        self._index.nprobe = int(max(1, min(value, self._index.nlist)))

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def __contains__(self, id_: Hashable) -> bool:
        return id_ in self._labels

    def memory_bytes(self) -> int:
        """Approximate size of the faiss index (vectors, ids, the id -> place hash map vectors() reads, about 40
        bytes an entry, centroids); the id table is extra."""
        if self._index is None:
            return 0
        n = len(self)
        size = n * (self.dim * 4 + 8 + 40)
        if self._is_ivf():
            size += self._index.nlist * self.dim * 4
        return size

    # ------------------------------------------------------------------ building
    def _check(self, vectors) -> np.ndarray:
        v = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"face encodings must be (n, {self.dim}) float32")
        if not np.isfinite(v).all():
            raise ValueError("face encodings must be finite")
        return v

    def default_nlist(self, n: int) -> int:
        return self._nlist_override or max(1, int(round(4 * math.sqrt(n))))

    def add(self, ids: Sequence[Hashable], vectors) -> None:
        """Adds encodings with their ids (ints or strings, unique). Crossing ``exact_below`` rebuilds the index as
        IVF, training it on a sample of everything held."""
        v = self._check(vectors)
        ids = list(ids)
        if len(ids) != len(v):
            raise ValueError("one id per encoding")
        if len(set(ids)) != len(ids) or any(i in self._labels for i in ids):
            raise ValueError("ids must be unique and not already in the index")
        for i in ids:
            if not isinstance(i, (int, str)) or isinstance(i, bool):
                raise TypeError("ids must be int or str")
        faiss = self._lib()
        with self._lock:
            start = len(self._ids)
            labels = np.arange(start, start + len(ids), dtype=np.int64)
            total = len(self) + len(v)
            if total >= self.exact_below and not self._is_ivf():
                held, held_labels = self._flat_contents(self._index)
                all_v = np.concatenate([held, v]) if len(held) else v
                all_l = np.concatenate([held_labels, labels]) if len(held) else labels
                self._index = self._train_ivf(all_v)
                self._index.add_with_ids(all_v, all_l)
            else:
                if self._index is None:
                    self._index = faiss.IndexIDMap2(faiss.IndexFlatL2(self.dim))
                self._index.add_with_ids(v, labels)
            self._ids.extend(ids)
            self._labels.update(zip(ids, range(start, start + len(ids))))

    def _flat_contents(self, index) -> tuple[np.ndarray, np.ndarray]:
        """The encodings and labels an exact index (an id map over ``IndexFlatL2``) holds."""
        if index is None or index.ntotal == 0:
            return np.zeros((0, self.dim), np.float32), np.zeros(0, np.int64)
        faiss = self._lib()
        flat = faiss.downcast_index(index.index)
        vectors = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * self.dim).copy().reshape(-1, self.dim)
        labels = faiss.vector_to_array(index.id_map).astype(np.int64)
        return vectors, labels

    def _train_ivf(self, vectors: np.ndarray):
        faiss = self._lib()
        n = len(vectors)
        nlist = min(self.default_nlist(n), n)
        sample_n = min(n, max(self.train_sample, 39 * nlist // 2))
        rng = np.random.default_rng(self.seed)
        sample = vectors if sample_n >= n else vectors[np.sort(rng.choice(n, sample_n, replace=False))]
        quantizer = faiss.IndexFlatL2(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_L2)
        index.cp.niter = 10
        index.cp.seed = self.seed
        index.cp.max_points_per_centroid = max(39, sample_n // nlist + 1)
        index.train(np.ascontiguousarray(sample))
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # vectors(): an encoding back by its label
        index.nprobe = self._nprobe_override or max(1, min(nlist, int(round(nlist / 50))))
        log.info("face index: IVF with %d lists trained on %d encodings, nprobe %d", nlist, sample_n, index.nprobe)
        return index

    def remove(self, ids: Iterable[Hashable]) -> int:
        """Removes ids from the index; returns how many were held."""
        faiss = self._lib()
        labels = [self._labels.pop(i) for i in ids if i in self._labels]
        if not labels:
            return 0
        with self._lock:
            for lab in labels:
                self._ids[lab] = None
            labels = np.asarray(labels, dtype=np.int64)  # an array selector: IVF's hashtable map removes by no other
            return int(self._index.remove_ids(faiss.IDSelectorArray(len(labels), faiss.swig_ptr(labels))))

    def vectors(self, ids: Iterable[Hashable]) -> dict:
        """The stored encoding of each id this index holds (ids it does not hold are left out), read back from the
        faiss index itself (the exact index maps ids in both directions, IVF keeps a hashtable direct map), so that a
        caller needing a face's distance to named voters keeps no second copy of the encodings."""
        wanted = [(i, self._labels[i]) for i in ids if i in self._labels]
        if not wanted:
            return {}
        with self._lock:
            return {i: self._index.reconstruct(int(label)) for i, label in wanted}

    def _with_lookup(self, index):
        """``index`` able to give back an encoding by label (vectors()): an index saved before it could is
        rebuilt (exact) or given its direct map (IVF)."""
        faiss = self._lib()  # ``index`` as faiss.deserialize_index gives it: already its own class (a second
        # downcast_index wrapper would not own it, and the C++ index would be freed under it)
        if hasattr(index, "nprobe"):
            if index.direct_map.type != faiss.DirectMap.Hashtable:
                index.set_direct_map_type(faiss.DirectMap.Hashtable)
            return index
        if isinstance(index, faiss.IndexIDMap2):
            return index
        vectors, labels = self._flat_contents(index)
        rebuilt = faiss.IndexIDMap2(faiss.IndexFlatL2(self.dim))
        if len(labels):
            rebuilt.add_with_ids(vectors, labels)
        return rebuilt

    # ------------------------------------------------------------------ searching
    def search_many(self, vectors, k: int, *, max_distance: float | None = None,
                    nprobe: int | None = None) -> list[list[tuple[Hashable, float]]]:
        """For each probe, up to k (id, Euclidean distance) pairs, nearest first."""
        q = self._check(vectors)
        if self._index is None or len(self) == 0 or k <= 0:
            return [[] for _ in range(len(q))]
        self._lib()
        k_eff = min(k, len(self))
        if nprobe is not None and self._is_ivf():
            saved = self._index.nprobe
            self._index.nprobe = int(max(1, min(nprobe, self._index.nlist)))
            try:
                d2, labels = self._index.search(q, k_eff)
            finally:
                self._index.nprobe = saved
        else:
            d2, labels = self._index.search(q, k_eff)
        dist = np.sqrt(np.maximum(d2, 0.0))
        out = []
        for row_d, row_l in zip(dist, labels):
            hits = []
            for dd, lab in zip(row_d, row_l):
                if lab < 0:
                    continue
                if max_distance is not None and dd > max_distance:
                    break
                hits.append((self._ids[lab], float(dd)))
            out.append(hits)
        return out

    def search(self, vector, k: int = 10, *, max_distance: float | None = None) -> list[tuple[Hashable, float]]:
        """Up to k (id, Euclidean distance) pairs nearest to one encoding, nearest first."""
        return self.search_many(np.asarray(vector, dtype=np.float32).reshape(1, -1), k,
                                max_distance=max_distance)[0]

    def exact_search_many(self, vectors, k: int) -> list[list[tuple[Hashable, float]]]:
        """Exhaustive search (an IVF index visits every list): the reference for recall."""
        nprobe = self._index.nlist if self._is_ivf() else None
        return self.search_many(vectors, k, nprobe=nprobe)

    def tune_nprobe(self, queries, *, k: int = 10, target_recall: float = 0.99,
                    candidates: Sequence[int] = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768,
                                                 1024)) -> dict:
        """Smallest nprobe whose mean recall@k against exhaustive search reaches target_recall on these queries
        (held-out sample probes, not the benchmark's). Sets it and returns {"nprobe", "recall"}."""
        if not self._is_ivf():
            return {"nprobe": None, "recall": 1.0}
        q = self._check(queries)
        exact = [{i for i, _ in row} for row in self.exact_search_many(q, k)]
        best = None
        for nprobe in sorted({min(c, self._index.nlist) for c in candidates}):
            got = self.search_many(q, k, nprobe=nprobe)
            recall = float(np.mean([len(e & {i for i, _ in g}) / max(1, len(e)) for e, g in zip(exact, got)]))
            best = {"nprobe": nprobe, "recall": recall}
            if recall >= target_recall:
                break
        self._index.nprobe = best["nprobe"]
        return best

    # ------------------------------------------------------------------ persistence
    def to_bytes(self) -> bytes:
        faiss = self._lib()
        header = json.dumps({
            "dim": self.dim, "exact_below": self.exact_below, "nlist": self._nlist_override,
            "nprobe": self._nprobe_override, "train_sample": self.train_sample, "threads": self.threads,
            "seed": self.seed, "ids": self._ids,
        }).encode()
        body = b"" if self._index is None else faiss.serialize_index(self._index).tobytes()
        return _MAGIC + struct.pack("<QQ", len(header), len(body)) + header + body

    @classmethod
    def from_bytes(cls, data: bytes) -> "FaceIndex":
        if not data.startswith(_MAGIC):
            raise MatchingError("not a face index")
        buf = io.BytesIO(data)
        buf.seek(len(_MAGIC))
        hlen, blen = struct.unpack("<QQ", buf.read(16))
        header = json.loads(buf.read(hlen))
        body = buf.read(blen)
        self = cls(dim=header["dim"], exact_below=header["exact_below"], nlist=header["nlist"],
                   nprobe=header["nprobe"], train_sample=header["train_sample"], threads=header["threads"],
                   seed=header["seed"])
        faiss = self._lib()
        if body:
            self._index = self._with_lookup(faiss.deserialize_index(np.frombuffer(body, dtype=np.uint8)))
        self._ids = header["ids"]
        self._labels = {i: lab for lab, i in enumerate(self._ids) if i is not None}
        return self
