"""``station bench speed``: time per print of the station's fingerprint engine beside NBIS, on FVC-style sets.

For each set, every image (or the first ``limit``) is extracted by the engine (``LeaderFusionMatcher``,
leader_mcc_bozorth3) and by mindtct (``NbisFingerprintMatcher``, no NFIQ2), one after the other on the same image, so
that both see the same machine load; then ``pairs`` pairs (genuine and impostor, fixed seed) are compared by the
engine and by bozorth3, alternately. The model is loaded and both engines warmed up on the first image before any
timing (the load time is reported apart).

Comparison times ("one comparison" depends on what was compared before, so all three are reported):
  ``engine``                  cold: both templates decoded from their bytes (the same work as bozorth3 here, which
                              loads both ISO records every time): a first verification on a thread;
  ``engine_reference_cached`` a new probe against a reference this thread decoded before (a second attempt on the
                              same finger);
  ``engine_cached``           both decoded templates kept (the shared-finger cross-check: one probe against the last
                              voters' references, kept from voter to voter; ``station bench accuracy``; 1:N).

Each is also given per kind of pair (``by_pair``: ``genuine``, ``impostor``). bozorth3's time grows with the
minutiae pairs it can link, so a genuine comparison costs several times an impostor one (one run on FVC2000 DB2_B and
DB4_B, both templates kept: median 3.7 and 4.2 ms genuine against 1.2 and 0.6 ms impostor; p95 53-65 ms genuine, where
bozorth3's own was 61-70 ms). The headline medians are over the half-and-half mix.

Ratios are engine / NBIS medians measured in the same run: on a shared machine they move less than absolute times.
Nothing here is asserted; ``targets`` says where the figures stand against issue 15's goals.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

EXTRACT_TARGET_MS = 200.0
COMPARE_TARGET_MS = 1.0


def _stats(values: Sequence[float]) -> dict:
    if not values:
        return {"n": 0, "median": None, "p95": None}
    v = np.asarray(values, dtype=np.float64)
    return {"n": int(v.size), "median": round(float(np.median(v)), 3), "p95": round(float(np.percentile(v, 95)), 3)}


def _ratio(a: dict, b: dict) -> float | None:
    if a.get("median") is None or not b.get("median"):
        return None
    return round(a["median"] / b["median"], 2)


def _pairs(sample_set, n_pairs: int, n_images: int, seed: int) -> tuple[np.ndarray, int]:
    """Up to ``n_pairs`` pairs among the first ``n_images``: half genuine, half impostor (fewer when the set has
    fewer), drawn with a fixed seed; the genuine ones first, and how many they are."""
    rng = np.random.default_rng(seed)
    genuine = sample_set.genuine_pairs()
    impostor = sample_set.impostor_pairs_all()
    genuine = genuine[(genuine < n_images).all(1)]
    impostor = impostor[(impostor < n_images).all(1)]
    n_gen = min(len(genuine), n_pairs // 2)
    n_imp = min(len(impostor), n_pairs - n_gen)
    picked = [genuine[rng.choice(len(genuine), n_gen, replace=False)] if n_gen else np.zeros((0, 2), np.int64),
              impostor[rng.choice(len(impostor), n_imp, replace=False)] if n_imp else np.zeros((0, 2), np.int64)]
    return np.concatenate(picked).astype(np.int64), n_gen


def speed_of_set(sample_set, engine, nbis, cold_engine, *, limit: int | None = None, n_pairs: int = 200,
                 seed: int = 0, progress: Callable[[str], None] | None = None) -> dict:
    """Extraction and comparison times of the engine and NBIS on one sample set (engines already warmed up)."""
    say = progress or (lambda _msg: None)
    n = len(sample_set) if limit is None else min(limit, len(sample_set))
    ext_engine, ext_nbis, failures = [], [], {"engine": 0, "mindtct": 0}
    engine_t: list[bytes | None] = []
    nbis_t: list[bytes | None] = []
    say(f"{sample_set.name}: extracting {n} images")
    for k in range(n):
        image = sample_set.image(k)
        order = (("engine", engine), ("mindtct", nbis)) if k % 2 == 0 else (("mindtct", nbis), ("engine", engine))
        for name, matcher in order:
            t0 = time.perf_counter()
            try:
                data = bytes(matcher.extract(image).data)
            except Exception:  # noqa: BLE001 - a failure to acquire is counted, not timed
                data = None
                failures[name] += 1
            ms = (time.perf_counter() - t0) * 1000
            if data is not None:
                (ext_engine if name == "engine" else ext_nbis).append(ms)
            (engine_t if name == "engine" else nbis_t).append(data)
    pairs, n_genuine = _pairs(sample_set, n_pairs, n, seed)
    say(f"{sample_set.name}: comparing {len(pairs)} pairs")
    cmp_engine, cmp_half, cmp_cached, cmp_boz = [], [], [], []
    kind_engine, kind_boz = [], []  # genuine or not, beside each timing of the engine and of bozorth3
    for i, j in pairs[:1]:  # untimed: the per-thread NBIS handles of the comparers are created at first use
        for matcher, templates in ((cold_engine, engine_t), (nbis, nbis_t)):
            if templates[i] is not None and templates[j] is not None:
                matcher.compare(templates[i], templates[j])
    for p, (i, j) in enumerate(pairs):
        a, b = engine_t[i], engine_t[j]
        if a is not None and b is not None:
            t0 = time.perf_counter()
            cold_engine.compare(a, b)
            cmp_engine.append((time.perf_counter() - t0) * 1000)
            engine.compare(b, b)  # the reference is kept (decoded before)...
            engine.forget(a)  # ...the probe is new
            t0 = time.perf_counter()
            engine.compare(a, b)
            cmp_half.append((time.perf_counter() - t0) * 1000)
            engine.compare(a, b)  # both kept now, as a template compared more than once is
            t0 = time.perf_counter()
            engine.compare(a, b)
            cmp_cached.append((time.perf_counter() - t0) * 1000)
            kind_engine.append(p < n_genuine)
        a, b = nbis_t[i], nbis_t[j]
        if a is not None and b is not None:
            t0 = time.perf_counter()
            nbis.compare(a, b)
            cmp_boz.append((time.perf_counter() - t0) * 1000)
            kind_boz.append(p < n_genuine)
    extract = {"engine": _stats(ext_engine), "mindtct": _stats(ext_nbis)}
    extract["ratio_median"] = _ratio(extract["engine"], extract["mindtct"])
    extract["ratio_p95"] = _ratio({"median": extract["engine"]["p95"]}, {"median": extract["mindtct"]["p95"]})
    timed = {"engine": (cmp_engine, kind_engine), "engine_reference_cached": (cmp_half, kind_engine),
             "engine_cached": (cmp_cached, kind_engine), "bozorth3": (cmp_boz, kind_boz)}
    compare: dict[str, Any] = {name: _stats(times) for name, (times, _kinds) in timed.items()}
    compare["by_pair"] = {kind: {name: _stats([t for t, g in zip(times, kinds) if g == genuine])
                                 for name, (times, kinds) in timed.items()}
                          for kind, genuine in (("genuine", True), ("impostor", False))}
    compare["ratio_median"] = _ratio(compare["engine"], compare["bozorth3"])
    compare["ratio_reference_cached_median"] = _ratio(compare["engine_reference_cached"], compare["bozorth3"])
    compare["ratio_cached_median"] = _ratio(compare["engine_cached"], compare["bozorth3"])
    compare["target_met"] = {name: compare[name]["median"] is not None and compare[name]["median"] <= COMPARE_TARGET_MS
                             for name in ("engine", "engine_reference_cached", "engine_cached")}
    return {"dataset": sample_set.name, "images": n, "pairs": len(pairs), "failures": failures,
            "extract_ms": extract, "compare_ms": compare,
            "meets_targets": {
                "extract": extract["engine"]["median"] is not None
                and extract["engine"]["median"] <= EXTRACT_TARGET_MS,
                "compare": compare["target_met"]["engine"]}}  # the cold comparison: the strict reading


def bench_speed(datasets: Sequence[str | Path], *, limit: int | None = None, n_pairs: int = 200, seed: int = 0,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``station bench speed``: per set, extraction (engine vs mindtct) and comparison (engine vs bozorth3) medians
    and 95th percentiles in milliseconds, and their ratios."""
    from matching import datasets as ds
    from matching.fingerprint import NbisFingerprintMatcher
    from matching.fingerprint_pipeline import FusionParams, LeaderFusionMatcher

    if not datasets:
        raise ValueError("give at least one --dataset")
    sets = [ds.fvc_folder(d) for d in datasets]  # a missing or empty folder fails here, before any work
    engine = LeaderFusionMatcher()
    cold_engine = LeaderFusionMatcher(fusion=FusionParams(decoded_cache_size=0))  # compare only: no model load
    nbis = NbisFingerprintMatcher(compute_quality=False)
    load_avg_start = os.getloadavg()
    warm = sets[0].image(0)
    t0 = time.perf_counter()
    for matcher in (engine, nbis):  # loads (and at the very first use builds) the model; warms both up
        try:
            matcher.extract(warm)
        except Exception:  # noqa: BLE001, S110 - an unusable first image still loads the model
            pass
        if matcher is engine:
            load_s = time.perf_counter() - t0
    started = time.perf_counter()
    results = {}
    for sample_set in sets:
        results[sample_set.name] = speed_of_set(sample_set, engine, nbis, cold_engine, limit=limit, n_pairs=n_pairs,
                                                seed=seed, progress=progress)
    leader = engine.leader
    return {
        "engine": engine.name,
        "baseline": {"extract": "mindtct", "compare": nbis.name},
        "model": {"variant": leader.params.model_variant, "source": leader.model_source,
                  "max_side": leader.params.max_side, "min_scale": leader.params.min_scale,
                  "intra_op_threads": leader.params.intra_op_threads,
                  "load_s": round(load_s, 3)},
        "machine": {"cpus": os.cpu_count(), "load_avg_start": [round(x, 2) for x in load_avg_start],
                    "load_avg_end": [round(x, 2) for x in os.getloadavg()]},
        "targets": {"extract_median_ms": EXTRACT_TARGET_MS, "compare_median_ms": COMPARE_TARGET_MS},
        "sets": results,
        "total_s": round(time.perf_counter() - started, 2),
    }
