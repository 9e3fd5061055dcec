"""The national 1:N duplicate search on Dask: the master roll's templates in shards on the workers, a registration
batch scattered to every shard, the answers gathered and re-ranked here.

Shards. A ``RollShard`` is a Dask actor: it lives on one worker for as long as the client keeps it, and holds the
engine's 1:N candidate index (``FingerprintEngine.new_index``: cylinder hashing for ``leader_mcc_bozorth3``, minutia
triplets for ``bozorth3``) with the engine's templates for re-scoring, and a faiss face index
(``matching.search_face.FaceIndex``) for its share of the roll. A person's four fingers and face go to one shard,
chosen by a hash of the CNIC. Calls to an actor go from the client straight to
its worker (never through the scheduler), and run one at a time on the worker's actor thread.

Feeding the shards. ``ShardedRollIndex.refresh`` reads the roll's references from the commission's database once
(after that only the ones added since, by id, as ``RollBiometricIndex`` does), decrypts them here, with the template
key that never leaves this machine, and sends each shard its partition in chunks, directly to its worker; the
worker turns them into its engine's templates and indexes them. The roll crosses the network once per run, the
registrants of a batch once per shard, the answers once back; the workers need neither the database nor a key.
``RollShard.load`` instead runs a partition source on the worker itself (the benchmark's generated gallery).

Search (three gathers, so that the answer is the single-process one whatever the number of shards):
  1. the probe fingers' index keys are computed here once (they do not depend on the shard); every shard
     returns, for each, its ``vote_depth`` best roll fingers by index votes, and its 10 nearest faces within the
     face distance for the WHOLE roll's number of faces (``SearchThresholds.face_distance``);
  2. here the lists are merged into each probe's global list (the votes are per template, so the global best are
     among the shards' best), ``comparisons_to_score`` picks the pairs the single-process search scores (each probe's
     shortlist, and all fingers of the voters ranked first by fused rank), and each shard scores those it holds;
  3. the shards give the registrant's face distance to each voter a finger-and-face rule could make a candidate;
  4. the scores and distances, against the rules for the WHOLE roll (its number of fingers and the most fingers of
     one voter, ``SearchThresholds.fingerprint_rule``), and the 10 nearest faces overall go through
     ``station.registration.dedup.collect_hits``, the code the single-process search uses.
The candidates go to the adjudication queue through the same admission (``registration.transfer``).
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from matching.engine import FingerprintEngine, make_engine
from matching.errors import MatchingError
from matching.face import encoding_from_bytes
from matching.search_face import FaceIndex

from station.db.models import BiometricReference, Voter
from station.national.cluster import worker_addresses
from station.registration.dedup import (DuplicateHit, FingersPerVoter, SearchThresholds, collect_hits,
                                       comparisons_to_score, face_distance)
from station.security.keys import TemplateCipher, template_context

log = logging.getLogger(__name__)

FACE_K = 10  # nearest roll faces per registrant, as RollBiometricIndex
CHUNK = 20_000  # references per message to a shard while feeding it


@dataclass(frozen=True)
class ShardPartition:
    """A share of the roll for one shard: fingerprints as stored (key "cnic|position", format, decrypted bytes) and
    faces (cnic, 128 float32)."""

    fingers: tuple[tuple[str, str, bytes], ...] = ()
    face_ids: tuple[str, ...] = ()
    face_vectors: np.ndarray | None = None


@dataclass(frozen=True)
class Registrant:
    """One person to search: probe fingers (position, engine template) and the face encoding, if any."""

    fingers: tuple[tuple[str, bytes], ...]
    face: np.ndarray | None = None


@dataclass(frozen=True)
class Held:
    """What a shard holds: fingerprint templates, faces, and the most fingers of one voter."""

    fingerprints: int = 0
    faces: int = 0
    most_fingers: int = 0


@dataclass(frozen=True)
class ShardStats:
    fingerprints: int
    faces: int
    held_bytes: int  # finger index + templates + face index
    worker_rss_bytes: int  # the whole worker process
    probes: int = 0  # searched so far: probe fingers, their shortlist time, engine comparisons and their time
    candidates_s: float = 0.0
    compares: int = 0
    compare_s: float = 0.0


def shard_of(cnic: str, shards: int) -> int:
    """The shard of a person (all four fingers and the face together): stable across runs and machines."""
    return int.from_bytes(hashlib.sha256(cnic.encode()).digest()[:8], "big") % shards


def _rss_bytes() -> int:
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class RollShard:
    """One shard of the roll on a worker (a Dask actor). Built empty; ``add`` or ``load`` fill it."""

    def __init__(self, matcher: str, ppi: int = 500, face_exact_below: int = 100_000) -> None:
        self._engine = make_engine(matcher, ppi=ppi)  # nothing heavy until the first template
        self._fingers = self._engine.new_index()
        self._templates: dict[str, bytes] = {}
        self._per_voter = FingersPerVoter()  # a voter's fingers are all on one shard
        self._faces = FaceIndex(exact_below=face_exact_below, threads=1)
        self._work = {"probes": 0, "candidates_s": 0.0, "compares": 0, "compare_s": 0.0}

    def add(self, part: ShardPartition) -> Held:
        """Index a partition; returns what the shard now holds. A template the engine cannot read is logged and left
        out, as in RollBiometricIndex."""
        for key, template_format, plain in part.fingers:
            if key in self._templates:
                continue
            try:
                template = self._engine.reference(template_format, plain)
                self._fingers.add(key, template)
            except MatchingError as exc:
                log.warning("roll fingerprint %s not indexed: %s", key.split("|")[-1], exc)
                continue
            self._templates[key] = template
            self._per_voter.add(key.split("|")[0])
        if part.face_ids:
            fresh = [i for i, cnic in enumerate(part.face_ids) if cnic not in self._faces]
            if fresh:
                vectors = np.asarray(part.face_vectors, dtype=np.float32)[fresh]
                self._faces.add([part.face_ids[i] for i in fresh], vectors)
        return Held(len(self._templates), len(self._faces), self._per_voter.most)

    def load(self, source: Callable[[], Iterable[ShardPartition]]) -> Held:
        """Run ``source`` here, on the worker, and index what it yields (a partition read or generated locally)."""
        held = Held(len(self._templates), len(self._faces), self._per_voter.most)
        for part in source():
            held = self.add(part)
        self._fingers.prepare()  # sorts the index's table now rather than at the first search
        return held

    def stats(self) -> ShardStats:
        held = (self._fingers.memory_bytes() + sum(len(k) + len(t) for k, t in self._templates.items())
                + self._faces.memory_bytes())
        return ShardStats(len(self._templates), len(self._faces), held, _rss_bytes(), **self._work)

    def candidates(self, probes: list[np.ndarray], shortlist: int, faces: np.ndarray | None,
                   max_distance: float) -> tuple[list[list[tuple[str, float]]], list[list[tuple[str, float]]]]:
        """Step 1: per probe finger (its index keys, ``FingerIndex.probe_keys``) its ``shortlist`` best
        (key, votes); per face its FACE_K nearest within ``max_distance``."""
        t0 = time.perf_counter()
        fingers = [self._fingers.candidates_for_keys(keys, shortlist=shortlist) for keys in probes]
        self._work["probes"] += len(probes)
        self._work["candidates_s"] += time.perf_counter() - t0
        near = (self._faces.search_many(faces, FACE_K, max_distance=max_distance)
                if faces is not None and len(faces) else [])
        return fingers, near

    def score(self, pairs: list[tuple[int, str]], probes: dict[int, bytes]) -> list[float | None]:
        """Step 2: the engine's score of each (probe number, roll key) pair; None for a key this shard does not hold
        (a finger position the voter has not enrolled)."""
        t0 = time.perf_counter()
        scores = [self._engine.compare(probes[j], self._templates[key]) if key in self._templates else None
                  for j, key in pairs]
        self._work["compares"] += sum(s is not None for s in scores)
        self._work["compare_s"] += time.perf_counter() - t0
        return scores

    def face_distances(self, asks: list[tuple[int, str]], faces: dict[int, np.ndarray]) -> list[float | None]:
        """Step 3: the distance of registrant r's face to voter cnic's, for each (r, cnic); None when this shard
        holds no face of the voter."""
        held = self._faces.vectors({cnic for _, cnic in asks})
        return [face_distance(held[cnic], faces[r]) if cnic in held else None for r, cnic in asks]


@dataclass
class _Batch:
    keys: list[np.ndarray] = field(default_factory=list)  # per probe finger: its index keys
    templates: list[bytes] = field(default_factory=list)
    owner: list[tuple[int, str]] = field(default_factory=list)  # probe -> (registrant, probe position)


class ShardedRollIndex:
    """The roll's indexes in shards on Dask workers; the same ``refresh``/``search`` as
    ``station.registration.dedup.RollBiometricIndex`` (``DuplicateIndex``), plus ``search_many`` for a batch.
    ``shards`` defaults to one per worker (a worker runs one actor call at a time)."""

    def __init__(self, client, matcher: FingerprintEngine, *, shards: int | None = None, ppi: int = 500,
                 face_exact_below: int = 100_000) -> None:
        workers = worker_addresses(client)
        if not workers:
            raise RuntimeError("the Dask scheduler has no workers")
        self.client = client
        self.matcher = matcher
        self.shards = shards or len(workers)
        futures = [client.submit(RollShard, matcher.name, ppi, face_exact_below, actor=True, pure=False,
                                 workers=[workers[i % len(workers)]]) for i in range(self.shards)]
        self._futures = futures  # keep the actors alive
        self._actors = [f.result() for f in futures]
        self.placement = [workers[i % len(workers)] for i in range(self.shards)]
        self._held = [Held()] * self.shards
        self._last_id = 0
        self._keys = matcher.new_index()  # keys the probes once here (the shards' index parameters are the default)

    def __len__(self) -> int:
        return sum(h.fingerprints for h in self._held)

    @property
    def faces(self) -> int:
        return sum(h.faces for h in self._held)

    @property
    def most_fingers(self) -> int:
        """The most fingers one voter has on the roll (a voter's fingers are on one shard)."""
        return max(h.most_fingers for h in self._held)

    # ------------------------------------------------------------------ feeding
    def add(self, shard: int, part: ShardPartition) -> None:
        self._held[shard] = self._actors[shard].add(part).result()

    def load(self, sources: list[Callable[[], Iterable[ShardPartition]]]) -> None:
        """One source per shard, run on the shards' workers in parallel."""
        if len(sources) != self.shards:
            raise ValueError("one partition source per shard")
        pending = [a.load(src) for a, src in zip(self._actors, sources)]
        self._held = [p.result() for p in pending]

    def refresh(self, session: Session, cipher: TemplateCipher) -> int:
        """Send the shards the roll's references added since the last refresh (all of them the first time);
        returns how many were read."""
        rows = session.execute(
            select(BiometricReference.id, Voter.cnic, BiometricReference.modality, BiometricReference.position,
                   BiometricReference.format, BiometricReference.ciphertext)
            .join(BiometricReference.voter).where(BiometricReference.id > self._last_id)
            .order_by(BiometricReference.id)).yield_per(CHUNK)
        read = 0
        parts: list[dict] = [self._empty() for _ in range(self.shards)]
        pending: list = []
        for ref_id, cnic, modality, position, template_format, blob in rows:
            read += 1
            self._last_id = max(self._last_id, ref_id)
            plain = cipher.decrypt(bytes(blob), template_context(cnic, modality, position))
            part = parts[shard_of(cnic, self.shards)]
            if modality == "fingerprint":
                part["fingers"].append((f"{cnic}|{position}", template_format or "", plain))
            elif modality == "face":
                part["face_ids"].append(cnic)
                part["face_vectors"].append(encoding_from_bytes(plain))
            if read % CHUNK == 0:
                pending = self._send(parts, pending)
                parts = [self._empty() for _ in range(self.shards)]
        pending = self._send(parts, pending)
        for shard, p in pending:
            self._held[shard] = p.result()
        return read

    @staticmethod
    def _empty() -> dict:
        return {"fingers": [], "face_ids": [], "face_vectors": []}

    def _send(self, parts: list[dict], pending: list) -> list:
        for shard, p in pending:  # one chunk in flight per shard: memory stays bounded
            self._held[shard] = p.result()
        out = []
        for shard, part in enumerate(parts):
            if part["fingers"] or part["face_ids"]:
                vectors = np.vstack(part["face_vectors"]).astype(np.float32) if part["face_vectors"] else None
                out.append((shard, self._actors[shard].add(ShardPartition(
                    tuple(part["fingers"]), tuple(part["face_ids"]), vectors))))
        return out

    def stats(self) -> list[ShardStats]:
        return [p.result() for p in [a.stats() for a in self._actors]]

    # ------------------------------------------------------------------ searching
    def search(self, fingers: list[tuple[str, bytes]], face: np.ndarray | None,
               thresholds: SearchThresholds) -> list[DuplicateHit]:
        """One registrant (what ``admit_registrations`` calls): a batch of one."""
        return self.search_many([Registrant(tuple(fingers), face)], thresholds)[0]

    def search_many(self, registrants: list[Registrant], thresholds: SearchThresholds) -> list[list[DuplicateHit]]:
        """The candidates of each registrant, as ``RollBiometricIndex.search`` would find them on the whole roll."""
        batch = _Batch()
        for r, reg in enumerate(registrants):
            for position, template in reg.fingers:
                try:
                    keys = self._keys.probe_keys(template)
                except MatchingError as exc:
                    log.warning("probe %s not searchable: %s", position, exc)
                    continue
                batch.keys.append(keys)
                batch.templates.append(bytes(template))
                batch.owner.append((r, position))
        with_face = [r for r, reg in enumerate(registrants) if reg.face is not None]
        faces = (np.vstack([np.asarray(registrants[r].face, dtype=np.float32).reshape(1, -1) for r in with_face])
                 if with_face else None)
        # 1. every shard's shortlists and nearest faces, within the face distance for the whole roll's faces
        face_threshold = thresholds.face_distance(self.faces)
        answers = [p.result() for p in [a.candidates(batch.keys, thresholds.vote_depth, faces,
                                                     face_threshold) for a in self._actors]]
        # 2. each probe's global list, the pairs the single-process search would score, scored by their shards
        home: dict[str, int] = {}  # the shard of each voter found (a voter's fingers are all on one shard)
        lists: list[list[tuple[str, list[tuple[str, float]]]]] = [[] for _ in registrants]
        for j in range(len(batch.keys)):
            merged = [(votes, shard, key) for shard, (fingers, _) in enumerate(answers) for key, votes in fingers[j]]
            merged.sort(key=lambda t: -t[0])
            for _votes, shard, key in merged:
                home[key.split("|")[0]] = shard
            r, position = batch.owner[j]
            lists[r].append((position, [(key, votes) for votes, _shard, key in merged[:thresholds.vote_depth]]))
        probe_of = {batch.owner[j]: j for j in range(len(batch.keys))}
        asks: dict[int, list[tuple[int, str]]] = {s: [] for s in range(self.shards)}
        planned = [comparisons_to_score(lists[r], thresholds) for r in range(len(registrants))]
        for r, pairs in enumerate(planned):
            for position, key in pairs:
                asks[home[key.split("|")[0]]].append((probe_of[r, position], key))
        pending = {s: self._actors[s].score(pairs, {j: batch.templates[j] for j in {j for j, _ in pairs}})
                   for s, pairs in asks.items() if pairs}
        scored: dict[tuple[int, str], float | None] = {}
        for s, p in pending.items():
            scored.update(zip(asks[s], p.result()))
        total, most = len(self), self.most_fingers
        finger_scores = [[(position, key, scored[probe_of[r, position], key]) for position, key in pairs
                          if scored[probe_of[r, position], key] is not None] for r, pairs in enumerate(planned)]
        rules = [thresholds.fingerprint_rule(total, len(reg.fingers), most) for reg in registrants]
        # 3. the registrant's face against the voters a finger-and-face rule could make candidates
        near: dict[int, list[tuple[int, str]]] = {s: [] for s in range(self.shards)}
        for r in with_face:
            for cnic in rules[r].voters_beside_face(finger_scores[r]):
                near[home[cnic]].append((r, cnic))
        pending = {s: self._actors[s].face_distances(asks_, {r: registrants[r].face for r in {r for r, _ in asks_}})
                   for s, asks_ in near.items() if asks_}
        distances: list[dict[str, float]] = [{} for _ in registrants]
        for s, p in pending.items():
            for (r, cnic), d in zip(near[s], p.result()):
                if d is not None:
                    distances[r][cnic] = d
        # 4. per registrant: the single-process hit rules
        nearest: dict[int, list[tuple[str, float]]] = {}
        for row, r in enumerate(with_face):
            merged_faces = sorted((hit for _, near in answers for hit in near[row]), key=lambda t: t[1])
            nearest[r] = merged_faces[:FACE_K]
        return [collect_hits(finger_scores[r], rules[r], nearest.get(r, []), face_threshold, distances[r])
                for r in range(len(registrants))]

    def close(self) -> None:
        """Release the shards (their workers free the memory)."""
        self._actors = []
        for f in self._futures:
            f.release()
        self._futures = []

