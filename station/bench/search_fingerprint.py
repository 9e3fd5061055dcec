"""``station bench search --modality fingerprint``: 1:N search with the station's fingerprint engine, on a gallery of
distinct fingers (the command line is station/cli/bench.py).

Gallery: ``n`` fingers. The real ones are planted: the first impression of every finger of the real sets found under
``datasets`` (FVC2000 DB1-4_B, 40 fingers, and the U.are.U 4000 sample, 65 fingers), extracted with the engine. FVC2000
DB1_B and DB2_B hold the same ten fingers under the same numbers (two sensors; the engine scores each such pair far
above any impostor pair), so finger k of either set is one identity with two references. The rest are distinct
synthetic fingers, minutiae layouts synthesised directly (station/bench/finger_layouts.py), generated in parallel
and cached on disk (``gallery_cache``; never in the repository).

Probes: later impressions of the real fingers (impression 2 of every finger, then 5, then 4, 7, 8; the index's
parameters were chosen on impressions 3 and 6 of the U.are.U sample against a 20,000-finger gallery), the first
``queries`` in that order that pass the engine's capture gate (``min_features``: the station refuses a smaller capture
at polling and registration, so it is never searched; the refused ones are named). Search = the engine's index
(``FingerprintEngine.new_index``) shortlists ``shortlist`` fingers, the engine's ``compare`` re-ranks them, the best
``k`` are returned. Timed per probe: the shortlist alone (``filter_*``) and the whole search (``p50_ms``, ``p95_ms``),
one probe at a time on one thread.

Recalls:
- ``mate_in_top10``: the share of probes with a reference of their own finger among the k returned;
- ``recall_at_10`` against exhaustive scoring: the engine's score of the probe against all ``n`` fingers; a returned
  finger counts when its exhaustive score reaches the k-th best (ties count). Beside a probe's mate, that top k holds
  the gallery's highest-scoring impostors, far below any decision threshold; ``recall_of_decisive`` counts only the
  exhaustive pairs at or above the engine's 1:1 threshold (the lowest score any duplicate rule counts): the ones a
  duplicate search must not miss. Exhaustive scoring costs about 1.2-1.7 ms a comparison, so it runs on the first
  ``exhaustive_queries`` probes (spread over the sets), in ``workers`` processes, and each probe's scores are cached
  beside the gallery. ``exhaustive_mate_in_top10`` is the mate recall of exhaustive search itself: what any index
  can at best give back.
- ``decisive_mates_found``: over every probe (not only the exhaustively scored ones), its pairs with its own planted
  references (two for an FVC2000 DB1/DB2 finger) that score at or above the 1:1 threshold, and how many of them the
  search returned. On the exhaustively scored probes every decisive pair was a mate pair, so this is the decisive
  recall on ten times the probes, at the cost of a few comparisons each.
"""
from __future__ import annotations

import hashlib
import math
import multiprocessing
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from station.bench import SHARED_DATASETS
from station.bench.calibrate import TemplateCache
from station.bench.search import _pct, _rss_mb
from station.security.files import atomic_file, write_atomically

REAL_SETS = ("fvc2000_db1_b", "fvc2000_db2_b", "fvc2000_db3_b", "fvc2000_db4_b", "uareu_sample")
SAME_FINGERS = ("fvc2000_db1_b", "fvc2000_db2_b")  # finger k of one is finger k of the other
PROBE_IMPRESSIONS = (2, 5, 4, 7, 8)
CHUNK = 2_000  # synthetic fingers per cached file


@dataclass(frozen=True)
class RealFinger:
    identity: str
    name: str  # set/finger_impression
    impression: int
    template: bytes


def identity_of(set_name: str, finger: str) -> str:
    return f"fvc2000_db1-2/{finger}" if set_name in SAME_FINGERS else f"{set_name}/{finger}"


def real_fingers(datasets: Path, matcher: str, cache: TemplateCache) -> list[RealFinger]:
    """Every impression of the real sets under ``datasets``, extracted with the engine (a failed extraction is left
    out). The sets found are named in the benchmark's JSON (``real_sets``); none at all is an error."""
    from matching.datasets import fvc_folder
    from matching.engine import make_engine
    from matching.errors import MatchingError

    engine = cache.wrap(make_engine(matcher), "fingerprint")
    out = []
    for set_name in REAL_SETS:
        folder = datasets / set_name
        if not folder.is_dir():
            continue
        s = fvc_folder(folder)
        for k, sample in enumerate(s.samples):
            try:
                t = engine.extract(s.image(k))
            except MatchingError:
                continue
            out.append(RealFinger(identity_of(set_name, sample.subject), f"{set_name}/{sample.name}",
                                  sample.impression, bytes(t.data)))
    if not out:
        raise FileNotFoundError(f"none of {', '.join(REAL_SETS)} under {datasets}")
    return out


def _synthetic_chunk(args: tuple[str, int, int, int]) -> list[bytes]:
    matcher, seed, lo, hi = args
    from station.bench.finger_layouts import layout_records

    if matcher == "leader_mcc_bozorth3":
        from matching.fingerprint_pipeline import LeaderFusionMatcher

        m = LeaderFusionMatcher()
        return [m.template_from_records(*layout_records(seed, k)).data for k in range(lo, hi)]
    return [layout_records(seed, k)[1] for k in range(lo, hi)]  # bozorth3: the nbis record


def synthetic_gallery(matcher: str, template_format: str, count: int, seed: int, cache_dir: Path | None,
                      workers: int) -> list[bytes]:
    """``count`` synthetic fingers' engine templates, generated in ``workers`` processes, cached by chunk."""
    jobs = [(matcher, seed, lo, min(count, lo + CHUNK)) for lo in range(0, count, CHUNK)]
    folder = None
    if cache_dir is not None:
        from station.bench import finger_layouts

        code = hashlib.sha256(Path(finger_layouts.__file__).read_bytes()).hexdigest()[:12]
        folder = cache_dir / "gallery" / f"{template_format.replace('/', '_')}-{code}-s{seed}"
        folder.mkdir(parents=True, exist_ok=True)
    out: list[list[bytes] | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        path = folder / f"{job[2]}-{job[3]}.pkl" if folder else None
        if path is not None and path.is_file():
            out[i] = pickle.loads(path.read_bytes())
        else:
            todo.append(i)
    if not todo:
        return [t for chunk in out for t in chunk]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        for i, chunk in zip(todo, pool.map(_synthetic_chunk, [jobs[i] for i in todo])):
            out[i] = chunk
            if folder is not None:
                write_atomically(folder / f"{jobs[i][2]}-{jobs[i][3]}.pkl", pickle.dumps(chunk))
    return [t for chunk in out for t in chunk]


def recall_against(scores: np.ndarray, returned: list[int], k: int) -> float:
    """Tie-aware recall@k of ``returned`` gallery positions against exhaustive ``scores``: the share of k a returned
    position fills when its score reaches the k-th best (at most k count)."""
    kth = np.sort(scores)[-k] if len(scores) >= k else scores.min()
    return min(k, sum(bool(scores[i] >= kth) for i in returned[:k])) / min(k, len(scores))


_FORKED: dict = {}  # what the exhaustive scorers inherit when the pool forks: the engine's name and the gallery


def _exhaustive_scores(args: tuple[list[bytes], int, int]) -> np.ndarray:
    """(probes, hi - lo) scores of ``probes`` against gallery[lo:hi], reference by reference: each reference is
    decoded once for all the probes (the engine keeps the decoded probes), a quarter less work than probe by probe."""
    probes, lo, hi = args
    from matching.engine import make_engine

    engine = _FORKED.get("engine")
    if engine is None:
        engine = _FORKED["engine"] = make_engine(_FORKED["matcher"])
    gallery = _FORKED["gallery"]
    out = np.empty((len(probes), hi - lo), np.float64)
    for i in range(lo, hi):
        for p, probe in enumerate(probes):
            out[p, i - lo] = engine.compare(probe, gallery[i])
    return out


EXHAUSTIVE_BATCH = 16  # probes scored together (fewer than the engine's decoded cache holds, with room to spare)


def exhaustive(probes: list[bytes], size: int, gallery_key: str, cache_dir: Path | None, pool: ProcessPoolExecutor,
               parts: int) -> list[np.ndarray]:
    """The engine's scores of each of ``probes`` against every gallery template (the pool's processes hold the
    gallery; cached by probe and gallery, each probe's file written once its scores are complete)."""
    folder = cache_dir / "exhaustive" if cache_dir is not None else None
    paths = [folder / f"{hashlib.sha256(gallery_key.encode() + p).hexdigest()[:24]}.npy" if folder else None
             for p in probes]
    out = [np.load(path) if path is not None and path.is_file() else None for path in paths]
    todo = [j for j in range(len(probes)) if out[j] is None]
    if folder is not None and todo:
        folder.mkdir(parents=True, exist_ok=True)
    step = math.ceil(size / parts)
    for b in range(0, len(todo), EXHAUSTIVE_BATCH):
        batch = todo[b:b + EXHAUSTIVE_BATCH]
        slices = [([probes[j] for j in batch], lo, min(size, lo + step)) for lo in range(0, size, step)]
        scores = np.concatenate(list(pool.map(_exhaustive_scores, slices)), axis=1)
        for j, row in zip(batch, scores):
            out[j] = row
            if paths[j] is not None:
                with atomic_file(paths[j]) as fh:  # a run stopped while writing leaves no torn file
                    np.save(fh, row)
    return out


def bench_fingerprint(matcher: str, n: int | None = None, queries: int = 200, k: int = 10, seed: int = 7,
                      shortlist: int = 200, exhaustive_queries: int | None = None, datasets: Path = SHARED_DATASETS,
                      cache_dir: Path | None = None, workers: int = 2, decisive_score: float | None = None,
                      min_features: int = 0) -> dict:
    """1:N fingerprint search with ``matcher``'s index and comparison (module docstring). ``n`` defaults to 2,000;
    ``exhaustive_queries`` to 400,000 comparisons' worth (at least 4, at most ``queries``). ``decisive_score``: the
    lowest score any duplicate rule counts (the engine's 1:1 threshold); the exhaustive pairs at or above it are the
    ones a search must not miss (``recall_of_decisive``). ``min_features``: the engine's capture gate; a later
    impression below it is not searched (the station refuses such a capture), the next one in the order is, and the
    refused ones are named (``probes_refused_by_gate``)."""
    from matching.engine import make_engine
    from station.polling.policy import feature_retry_reason

    n = n or 2_000
    if exhaustive_queries is None:
        exhaustive_queries = min(queries, max(4, 400_000 // n))

    engine = make_engine(matcher)
    t0 = time.perf_counter()
    real = real_fingers(datasets, matcher, TemplateCache(cache_dir / "real" if cache_dir else None))
    real_s = time.perf_counter() - t0
    planted = [f for f in real if f.impression == 1]
    by_round = {imp: [f for f in real if f.impression == imp] for imp in PROBE_IMPRESSIONS}
    probes, refused = [], []
    for f in (f for imp in PROBE_IMPRESSIONS for f in by_round[imp] if any(p.identity == f.identity for p in planted)):
        if len(probes) == queries:
            break
        if feature_retry_reason(engine.features(f.template), min_features) is None:
            probes.append(f)
        else:
            refused.append(f.name)
    if n < len(planted) + 1:
        raise ValueError(f"--n must exceed the {len(planted)} planted real fingers")
    t0 = time.perf_counter()
    synthetic = synthetic_gallery(matcher, engine.template_format, n - len(planted), seed, cache_dir, workers)
    generate_s = time.perf_counter() - t0
    gallery = synthetic + [p.template for p in planted]
    owner = [None] * len(synthetic) + [p.identity for p in planted]
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    index = engine.new_index()
    unfindable = sum(index.add(i, t) == 0 for i, t in enumerate(gallery))
    index.prepare()
    memory = index.memory_bytes()
    build_s = time.perf_counter() - t0
    rss1 = _rss_mb()
    totals, filters, results = [], [], []
    for probe in probes:
        t = time.perf_counter()
        cands = index.candidates(probe.template, shortlist=shortlist)
        filters.append((time.perf_counter() - t) * 1000)
        ranked = sorted(((i, engine.compare(probe.template, gallery[i])) for i, _ in cands), key=lambda r: -r[1])[:k]
        totals.append((time.perf_counter() - t) * 1000)
        results.append(ranked)
    mates = [any(owner[i] == p.identity for i, _ in r) for p, r in zip(probes, results)]
    decisive_mates = mates_found = 0  # every probe's pairs with its own planted references at the decisive score
    if decisive_score is not None:
        references: dict[str, list[int]] = {}
        for i in range(len(synthetic), len(gallery)):
            references.setdefault(owner[i], []).append(i)
        for p, r in zip(probes, results):
            returned = {i for i, _ in r}
            for i in references[p.identity]:
                if engine.compare(p.template, gallery[i]) >= decisive_score:
                    decisive_mates += 1
                    mates_found += i in returned
    n_exh = min(exhaustive_queries, len(probes))
    picked = sorted({int(round(j * len(probes) / n_exh)) for j in range(n_exh)}) if n_exh else []
    recalls, exh_mates, decisive, decisive_found = [], [], 0, 0
    t0 = time.perf_counter()
    if picked:
        # the planted real references' own bytes: a changed extraction of them never reads stale cached scores
        planted_digest = hashlib.sha256(b"".join(gallery[len(synthetic):])).hexdigest()[:16]
        key = f"{engine.template_format}|{n}|{seed}|{len(planted)}|{planted_digest}"
        _FORKED.update(matcher=matcher, gallery=gallery)
        context = multiprocessing.get_context("fork")  # the workers inherit the gallery instead of receiving it
        with ProcessPoolExecutor(max(1, workers), mp_context=context) as pool:
            every = exhaustive([probes[j].template for j in picked], len(gallery), key, cache_dir, pool,
                               max(1, workers) * 4)
            for j, scores in zip(picked, every):
                returned = [i for i, _ in results[j]]
                recalls.append(recall_against(scores, returned, k))
                if decisive_score is not None:
                    above = set(np.nonzero(scores >= decisive_score)[0].tolist())
                    decisive += len(above)
                    decisive_found += len(above & set(returned))
                top = np.argsort(-scores)[:k]
                exh_mates.append(any(owner[i] == probes[j].identity for i in top))
        _FORKED.clear()
    exh_s = time.perf_counter() - t0
    by_set: dict[str, list[bool]] = {}
    for p, hit in zip(probes, mates):
        by_set.setdefault(p.name.split("/")[0], []).append(hit)
    return {
        "modality": "fingerprint", "engine": matcher, "n": n, "queries": len(probes), "k": k,
        **_pct(totals), "filter_p50_ms": _pct(filters)["p50_ms"], "filter_p95_ms": _pct(filters)["p95_ms"],
        "recall_at_10" if k == 10 else f"recall_at_{k}": round(float(np.mean(recalls)), 4) if recalls else None,
        "recall_queries": len(picked),
        "exhaustive_mate_in_top10": round(float(np.mean(exh_mates)), 4) if exh_mates else None,
        "decisive_score": decisive_score, "min_features": min_features, "probes_refused_by_gate": refused,
        "recall_of_decisive": f"{decisive_found}/{decisive}" if decisive_score is not None and picked else None,
        "decisive_mates_found": f"{mates_found}/{decisive_mates}" if decisive_score is not None else None,
        "mate_in_top10": round(float(np.mean(mates)), 4), "mate_hits": int(sum(mates)),
        "mate_in_top10_by_set": {s: f"{sum(v)}/{len(v)}" for s, v in by_set.items()},
        "shortlist": shortlist, "memory_mb": round(memory / 2 ** 20, 1), "rss_delta_mb": round(rss1 - rss0, 1),
        "build_s": round(build_s, 2), "generate_s": round(generate_s, 1), "real_extract_s": round(real_s, 1),
        "exhaustive_s": round(exh_s, 1), "unfindable": unfindable,
        "planted_real": len(planted), "synthetic": len(synthetic), "workers": workers,
        "real_sets": sorted({f.name.split("/")[0] for f in real}),
        "data": "gallery = first impressions of FVC2000 DB1-4_B and uareu_sample (planted) + distinct synthetic "
                "layouts (station/bench/finger_layouts.py); probes = later real impressions; one thread per probe",
    }
