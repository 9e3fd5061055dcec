"""Benchmark the synthetic fingerprint generator against NIST NBIS (mindtct + bozorth3).

Usage::

    python -m drivers.fingerprint.bench_synthetic --masters 40 --impressions 4 --json

Pairing used for the score distributions (per quality profile ``q``):

* ``normal``: genuine = every unordered pair of normal impressions of one master;
  impostor = every pair of impressions of two different masters (first
  impressions and all cross pairs).
* other profiles (enrolled normal reference vs. degraded live probe):
  genuine = normal impression ``i`` vs. ``q`` impression ``j`` of the same master,
  ``i != j``; impostor = normal impression 0 of master A vs. every ``q``
  impression of master B, ``A != B``.

Generation timings are measured single-threaded (``cv2.setNumThreads(1)``)
inside the worker processes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from drivers.fingerprint.synthetic import DEFAULT_SIZE, QUALITY_PROFILES, generate_master, render_impression

THRESHOLD = 40
_EXTRACTORS: dict[bool, object] = {}


def _extractor(nfiq2: bool):
    """Per-process NBIS extractor (created lazily; nbis objects do not pickle)."""
    if nfiq2 not in _EXTRACTORS:
        import nbis

        settings = nbis.NbisExtractorSettings(
            min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=nfiq2, ppi=500.0
        )
        _EXTRACTORS[nfiq2] = nbis.new_nbis_extractor(settings)
    return _EXTRACTORS[nfiq2]


def _extract(png: bytes, nfiq2: bool):
    """Minutiae and NFIQ2 score; NFIQ2 failures are reported as score 0 ("could not compute")."""
    if nfiq2:
        try:
            m = _extractor(True).extract_minutiae(png)
            quality = m.quality()
            return m, int(quality.score) if quality is not None else 0
        except Exception:  # nbis raises NbisError.Nfiq2ComputeFailed on some poor images
            return _extractor(False).extract_minutiae(png), 0
    return _extractor(False).extract_minutiae(png), None


@dataclass
class _Sample:
    """One rendered impression, reduced to what the main process needs."""

    master: int
    profile: str
    impression: int
    render_ms: float
    minutiae: int
    nfiq2: int | None
    template: bytes


def _master_job(args: tuple[int, int, int, tuple[str, ...], bool]) -> tuple[float, list[_Sample]]:
    """Generate one master and all its impressions; extract NBIS templates."""
    import cv2

    cv2.setNumThreads(1)
    index, offset, impressions, profiles, nfiq2 = args
    t0 = time.perf_counter()
    master = generate_master(f"bench-{index + offset:05d}/right_index", seed=0)
    master_ms = (time.perf_counter() - t0) * 1000
    samples = []
    for profile in profiles:
        for imp in range(impressions):
            t0 = time.perf_counter()
            img = render_impression(master, impression=imp, quality=profile)
            render_ms = (time.perf_counter() - t0) * 1000
            ok, png = cv2.imencode(".png", img)
            m, score = _extract(png.tobytes(), nfiq2)
            samples.append(
                _Sample(index, profile, imp, render_ms, len(m.get()), score, bytes(m.to_iso_19794_2_2005()))
            )
    return master_ms, samples


def _compare_job(args: tuple[dict[tuple, bytes], list[tuple[tuple, tuple]]]) -> list[int]:
    """Bozorth3 scores for a chunk of template pairs."""
    templates, pairs = args
    ex = _extractor(False)
    loaded = {key: ex.load_iso_19794_2_2005(data) for key, data in templates.items()}
    return [int(loaded[a].compare(loaded[b])) for a, b in pairs]


def _pairs(profile: str, masters: int, impressions: int) -> tuple[list, list]:
    """Genuine and impostor (reference, probe) key pairs for one profile."""
    if profile == "normal":
        genuine = [
            ((m, "normal", i), (m, "normal", j)) for m in range(masters) for i, j in combinations(range(impressions), 2)
        ]
        impostor = [
            ((a, "normal", i), (b, "normal", j))
            for a, b in combinations(range(masters), 2)
            for i in range(impressions)
            for j in range(impressions)
        ]
    else:
        genuine = [
            ((m, "normal", i), (m, profile, j))
            for m in range(masters)
            for i in range(impressions)
            for j in range(impressions)
            if i != j
        ]
        impostor = [
            ((a, "normal", 0), (b, profile, j))
            for a in range(masters)
            for b in range(masters)
            if a != b
            for j in range(impressions)
        ]
    return genuine, impostor


def _pct(values, qs) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {f"p{q}": float("nan") for q in qs}
    return {f"p{q}": round(float(np.percentile(arr, q)), 2) for q in qs}


def _dist(scores: list[int]) -> dict[str, float]:
    arr = np.asarray(scores)
    out = {"n": int(arr.size), "min": int(arr.min()), **_pct(arr, (5, 50, 95)), "max": int(arr.max())}
    out[f"frac_ge_{THRESHOLD}"] = round(float(np.mean(arr >= THRESHOLD)), 5)
    return out


def _score_all(pool, templates, pair_lists, workers: int) -> list[list[int]]:
    """Score several pair lists in parallel, preserving order."""
    flat = [p for pairs in pair_lists for p in pairs]
    chunk = max(1, len(flat) // (workers * 4) + 1)
    jobs = []
    for start in range(0, len(flat), chunk):
        part = flat[start : start + chunk]
        keys = {k for pair in part for k in pair}
        jobs.append(({k: templates[k] for k in keys}, part))
    scores = [s for res in pool.map(_compare_job, jobs) for s in res]
    out, pos = [], 0
    for pairs in pair_lists:
        out.append(scores[pos : pos + len(pairs)])
        pos += len(pairs)
    return out


def run(
    masters: int, impressions: int, profiles: tuple[str, ...], workers: int, nfiq2: bool, offset: int = 0
) -> dict:
    """Run the benchmark and return the result dictionary."""
    if "normal" not in profiles:
        profiles = ("normal",) + profiles
    t_start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:  # no fork
        results = list(pool.map(_master_job, [(i, offset, impressions, profiles, nfiq2) for i in range(masters)]))
        master_ms = [r[0] for r in results]
        samples = [s for r in results for s in r[1]]
        templates = {(s.master, s.profile, s.impression): s.template for s in samples}
        pair_lists = []
        for profile in profiles:
            pair_lists.extend(_pairs(profile, masters, impressions))
        scored = _score_all(pool, templates, pair_lists, workers)
    report: dict = {
        "masters": masters,
        "first_master": offset,
        "impressions": impressions,
        "threshold": THRESHOLD,
        "image_size_hw": list(DEFAULT_SIZE),
        "generation_ms": {
            "master": _pct(master_ms, (50, 95)),
            "impression": _pct([s.render_ms for s in samples], (50, 95)),
        },
        "profiles": {},
    }
    for k, profile in enumerate(profiles):
        mine = [s for s in samples if s.profile == profile]
        genuine, impostor = scored[2 * k], scored[2 * k + 1]
        entry = {
            "minutiae": _pct([s.minutiae for s in mine], (5, 50, 95)),
            "render_ms": _pct([s.render_ms for s in mine], (50, 95)),
            "genuine": _dist(genuine),
            "impostor": _dist(impostor),
        }
        if nfiq2:
            scores = [s.nfiq2 for s in mine if s.nfiq2 is not None]
            entry["nfiq2"] = {**_pct(scores, (5, 50, 95)), "zero_or_failed": sum(1 for v in scores if v == 0)}
        report["profiles"][profile] = entry
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--masters", type=int, default=40)
    parser.add_argument("--impressions", type=int, default=4)
    parser.add_argument("--profiles", default=",".join(QUALITY_PROFILES), help="comma-separated quality profiles")
    parser.add_argument("--first", type=int, default=0, help="index of the first master subject")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-nfiq2", action="store_true", help="skip NFIQ2 (about 3x faster extraction)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: indented JSON)")
    args = parser.parse_args(argv)
    profiles = tuple(p for p in args.profiles.split(",") if p)
    unknown = set(profiles) - set(QUALITY_PROFILES)
    if unknown:
        parser.error(f"unknown profiles {sorted(unknown)}; valid: {', '.join(QUALITY_PROFILES)}")
    if args.masters < 2 or args.impressions < 2:
        parser.error("need at least 2 masters and 2 impressions")
    report = run(args.masters, args.impressions, profiles, max(1, args.workers), not args.no_nfiq2, args.first)
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
