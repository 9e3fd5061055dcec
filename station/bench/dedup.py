"""``station bench dedup``: the national 1:N duplicate search (station/national/dedup.py) on Dask workers.

Gallery: ``templates`` fingerprint templates = templates / 4 people with four fingers and a face each, made with the
search benchmark's generators (station/bench/search.py). Fingers: the mindtct minutiae of the FVC2000 B images
(``base_templates``) give real layouts; each finger of a person is one of them with fresh minutia directions and
types (its own ridge flow: without that the 318 images would make only 318 distinct fingers, and every fresh
registrant would have thousands of true mates on the roll); an impression of it is ``perturb_minutiae`` of that (the
roll's from one seed, a second registration's from another). Faces: ``synthetic_face_encodings`` (clustered 128-d),
a second photo ``perturb_face``.

Registrants: ``registrants`` planted duplicates (a new impression of each finger of a gallery person and a
perturbed copy of the face) and ``fresh`` people not on the roll. Recall = planted duplicates whose own gallery
person is among the candidates / planted; ``fresh_with_candidates`` = fresh people sent to adjudication.

Each shard generates its share of the gallery on its own worker (``GallerySlice``, run by ``RollShard.load``), in
blocks cached under ``cache_dir`` (default: the system's temporary folder, never the repository), with the faces as
one .npy file the workers memory-map.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from station.security.files import private_cache_dir
from station.bench.search import (DEFAULT_DATASETS, _write_iso, base_templates, perturb_face, perturb_minutiae,
                                  synthetic_face_encodings)

FINGERS = ("right_thumb", "right_index", "left_thumb", "left_index")
BLOCK = 1_000  # people per cached block of the gallery
SPARE_FACES = 100_000  # faces beyond the gallery, for fresh registrants
TEMPLATE_FORMAT = "ISO19794-2:2005"  # matching.fingerprint.TEMPLATE_FORMAT (the exchange record every engine reads)


def default_cache_dir() -> Path:
    return private_cache_dir("bench-dedup")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def cached_bases(cache_dir: Path, datasets: Path = DEFAULT_DATASETS) -> list[dict]:
    """``base_templates`` of every FVC2000 B image (about a minute of mindtct), cached."""
    path = cache_dir / "bases.pickle"
    if path.exists():
        with path.open("rb") as f:
            return pickle.load(f)
    bases = base_templates(datasets, None)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, pickle.dumps(bases))
    return bases


def _layout(bases: list[dict], seed: int, person: int, finger: int) -> dict:
    """A person's finger: a real minutiae layout with its own directions and types."""
    rng = np.random.default_rng([seed, person, finger])
    base = bases[int(rng.integers(len(bases)))]
    m = base["m"].copy()
    m[:, 2] = rng.uniform(0, 360, len(m))
    m[:, 3] = rng.integers(1, 3, len(m))
    return {**base, "m": m}


def impression(bases: list[dict], seed: int, person: int, finger: int, take: int) -> bytes:
    """Impression ``take`` (0 = the roll's, 1 = a second registration) of a person's finger: an ISO record."""
    layout = _layout(bases, seed, person, finger)
    m = perturb_minutiae(layout, np.random.default_rng([seed, person, finger, 1000 + take]))
    return _write_iso(layout["prefix"], m)


def person_id(person: int) -> str:
    return f"P{person:09d}"


def faces_file(cache_dir: Path, seed: int, people: int) -> Path:
    """The gallery's faces and SPARE_FACES more (fresh registrants), generated once, cached as .npy."""
    path = cache_dir / f"faces-{seed}-{people + SPARE_FACES}.npy"
    if not path.exists():
        vectors, _state = synthetic_face_encodings(people + SPARE_FACES, seed)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    return path


def face_state(seed: int) -> dict:
    return synthetic_face_encodings(1, seed)[1]  # the basis and spectrum depend on the seed only


@dataclass(frozen=True)
class GallerySlice:
    """People [start, stop) of the gallery as ShardPartitions (run on a worker; blocks cached on its disk)."""

    bases: tuple[dict, ...]
    seed: int
    start: int
    stop: int
    cache_dir: str
    faces_path: str

    def _block(self, block: int) -> list[bytes]:
        tag = hashlib.sha256(pickle.dumps([len(self.bases), self.seed, BLOCK])).hexdigest()[:12]
        path = Path(self.cache_dir) / f"fingers-{tag}-{block}.npz"
        if path.exists():
            z = np.load(path)
            buf, offsets = z["buf"].tobytes(), z["offsets"]
            return [buf[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        bases = list(self.bases)
        isos = [impression(bases, self.seed, p, f, 0) for p in range(block * BLOCK, (block + 1) * BLOCK)
                for f in range(len(FINGERS))]
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in isos])]).astype(np.int64)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, buf=np.frombuffer(b"".join(isos), dtype=np.uint8), offsets=offsets)
        tmp.replace(path)
        return isos

    def __call__(self) -> Iterator:
        from station.national.dedup import ShardPartition

        faces = np.load(self.faces_path, mmap_mode="r")
        for block in range(self.start // BLOCK, (self.stop - 1) // BLOCK + 1):
            isos = self._block(block)
            lo, hi = max(self.start, block * BLOCK), min(self.stop, (block + 1) * BLOCK)
            fingers = tuple((f"{person_id(p)}|{FINGERS[f]}", TEMPLATE_FORMAT, isos[(p - block * BLOCK) * 4 + f])
                            for p in range(lo, hi) for f in range(len(FINGERS)))
            yield ShardPartition(fingers, tuple(person_id(p) for p in range(lo, hi)),
                                 np.ascontiguousarray(faces[lo:hi], dtype=np.float32))


def registrants(engine, bases: list[dict], seed: int, people: int, planted: int, fresh: int, faces_path: Path):
    """(planted people, registrants): planted duplicates first, then fresh people (ids beyond the gallery)."""
    from station.national.dedup import Registrant

    rng = np.random.default_rng([seed, 99])
    chosen = [int(p) for p in rng.choice(people, size=min(planted, people), replace=False)]
    faces = np.load(faces_path, mmap_mode="r")
    state = face_state(seed)
    out = []
    for k, p in enumerate(chosen + list(range(people, people + fresh))):
        dup = k < len(chosen)
        fingers = tuple((FINGERS[f], engine.reference(TEMPLATE_FORMAT, impression(bases, seed, p, f, 1 if dup else 0)))
                        for f in range(len(FINGERS)))
        face = np.asarray(faces[p:p + 1], dtype=np.float32)
        out.append(Registrant(fingers, perturb_face(face, state, rng)[0] if dup else face[0]))
    return chosen, out


def bench_dedup(templates: int, planted: int, fresh: int | None, workers: int, shards: int | None,
                scheduler: str, seed: int = 7, batch: int = 32, matcher: str = "bozorth3",
                cache_dir: Path | None = None, say=None) -> dict:
    from matching.engine import make_engine

    from station.config import load_config
    from station.national.cluster import dask_client
    from station.national.dedup import ShardedRollIndex
    from station.registration.dedup import SearchThresholds

    say = say or (lambda _m: None)
    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    people = max(1, templates // len(FINGERS))
    fresh = planted if fresh is None else fresh
    config = load_config("hardware", home=Path(tempfile.gettempdir()), environ={},
                         overrides={"fingerprint": {"matcher": matcher}})
    thresholds = SearchThresholds.from_config(config)
    engine = make_engine(matcher, ppi=config.fingerprint.ppi)
    say("base layouts...")
    bases = cached_bases(cache)
    fpath = faces_file(cache, seed, people)
    load_before = os.getloadavg()
    with dask_client(scheduler, workers=workers) as client:
        index = ShardedRollIndex(client, engine, shards=shards, ppi=config.fingerprint.ppi)
        n = index.shards
        cuts = [people * i // n for i in range(n + 1)]
        say(f"building {n} shards of {people:,} people on {len(set(index.placement))} workers...")
        t0 = time.perf_counter()
        index.load([GallerySlice(tuple(bases), seed, cuts[i], cuts[i + 1], str(cache), str(fpath))
                    for i in range(n)])
        build_s = time.perf_counter() - t0
        stats = index.stats()
        chosen, regs = registrants(engine, bases, seed, people, planted, fresh, fpath)
        say(f"searching {len(regs)} registrants in batches of {batch}...")
        t0 = time.perf_counter()
        results = []
        for s in range(0, len(regs), batch):
            results += index.search_many(regs[s:s + batch], thresholds)
        search_s = time.perf_counter() - t0
        stats = index.stats()  # with the search's work counted
        held_workers = len(set(index.placement))
        index.close()
    found = sum(any(h.cnic == person_id(p) for h in hits) for p, hits in zip(chosen, results))
    fresh_flagged = [i for i, hits in enumerate(results[len(chosen):]) if hits]
    by_face = sum(any(h.cnic == person_id(p) and h.face_distance is not None for h in hits)
                  for p, hits in zip(chosen, results))
    by_finger = sum(any(h.cnic == person_id(p) and h.fingers_matched for h in hits)
                    for p, hits in zip(chosen, results))
    rules = ("one finger", "two fingers", "finger and face", "face")
    found_by_rule = {rule: sum(any(h.cnic == person_id(p) and any(e["rule"] == rule for e in h.evidence) for h in hits)
                               for p, hits in zip(chosen, results)) for rule in rules}
    fresh_by_rule = {rule: sum(any(e["rule"] == rule for h in hits for e in h.evidence)
                               for hits in results[len(chosen):]) for rule in rules}
    recall = found / len(chosen) if chosen else None
    return {
        "registrants_per_s": round(len(regs) / search_s, 3), "recall": round(recall, 4) if chosen else None,
        "workers": held_workers, "templates": people * len(FINGERS), "shards": len(stats),
        "memory_per_shard_mb": round(max(s.held_bytes for s in stats) / 2 ** 20, 1),
        "worker_rss_mb": [round(s.worker_rss_bytes / 2 ** 20, 1) for s in stats],
        "people": people, "faces": sum(s.faces for s in stats), "planted": len(chosen), "fresh": fresh,
        "fresh_with_candidates": len(fresh_flagged),
        "fresh_with_fingerprint_candidates": sum(any(h.fingers_matched for h in results[len(chosen) + i])
                                                 for i in fresh_flagged),
        "fresh_with_face_candidates": sum(any(h.face_distance is not None for h in results[len(chosen) + i])
                                          for i in fresh_flagged),
        "found_by_fingerprint": by_finger, "found_by_face": by_face, "found_by_rule": found_by_rule,
        "fresh_with_candidates_by_rule": fresh_by_rule,
        "meets_recall_0_99": recall is None or recall >= 0.99,
        "shard_search_cpu": {"probes": sum(s.probes for s in stats),
                             "candidates_ms_per_shard_probe": round(1000 * sum(s.candidates_s for s in stats)
                                                              / max(1, sum(s.probes for s in stats)), 2),
                             "compares": sum(s.compares for s in stats),
                             "compare_ms_each": round(1000 * sum(s.compare_s for s in stats)
                                                      / max(1, sum(s.compares for s in stats)), 3)},
        "build_s": round(build_s, 1), "search_s": round(search_s, 2), "batch": batch, "matcher": matcher,
        "shortlist": thresholds.shortlist,
        "fingerprint_rule": {name: round(value, 2) for name, value in vars(thresholds.fingerprint_rule(
            people * len(FINGERS), len(FINGERS), len(FINGERS))).items()},
        "face_distance": round(thresholds.face_distance(sum(s.faces for s in stats)), 4),
        "face_distance_1_to_1": config.face.match_threshold,
        "scheduler": scheduler, "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "data": "fingers: FVC2000 B mindtct layouts with fresh directions per finger, impressions by "
                "perturb_minutiae; faces: synthetic clustered 128-d encodings (station/bench/search.py)",
    }
