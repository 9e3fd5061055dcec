"""``station bench search``: 1:N search latency, memory and recall@10 against exhaustive search (the command line is
station/cli/bench.py).

Face: synthetic 128-d encodings shaped like face_recognition's (a common mean, population clusters, identity variation
with a decaying spectrum; impostor distances around 0.85, genuine around 0.35); the probes are perturbed copies of
enrolled encodings. Recall is against exact L2 search over all N (faiss brute force).

Fingerprint: station/bench/search_fingerprint.py (the station's engine and its own index, a gallery of distinct
fingers with the real ones planted, real probes).

The mindtct layouts of the FVC2000 B sets and their perturbed copies (``base_templates``, ``perturb_minutiae``) stay
here: the national duplicate-search benchmark (station/bench/dedup.py) builds its people from them.
"""
from __future__ import annotations

import glob
import math
import time
from pathlib import Path

import click
import numpy as np

from matching import iso19794

from station.bench import SHARED_DATASETS

DEFAULT_DATASETS = SHARED_DATASETS


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _pct(values_ms: list[float]) -> dict:
    arr = np.asarray(values_ms)
    return {"p50_ms": round(float(np.percentile(arr, 50)), 2), "p95_ms": round(float(np.percentile(arr, 95)), 2),
            "max_ms": round(float(arr.max()), 2)}


# ---------------------------------------------------------------------------------------------------------- face
def synthetic_face_encodings(n: int, seed: int, *, dim: int = 128, clusters: int = 64,
                             chunk: int = 200_000) -> tuple[np.ndarray, dict]:
    """n synthetic encodings and the generator state needed to perturb them like a second photo of the person."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    spectrum = (1.0 + np.arange(dim)) ** -0.5
    spectrum /= np.sqrt((spectrum ** 2).sum())  # unit expected norm of a spectrum-shaped Gaussian
    mean = rng.normal(size=dim)
    mean *= 0.75 / np.linalg.norm(mean)
    centres = (rng.normal(size=(clusters, dim)) * spectrum) @ basis.T * 0.35
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        ident = (rng.normal(size=(m, dim)) * spectrum) @ basis.T * 0.52
        out[s:s + m] = mean + centres[rng.integers(clusters, size=m)] + ident
    state = {"basis": basis, "spectrum": spectrum, "genuine_scale": 0.25}
    return out, state


def perturb_face(vectors: np.ndarray, state: dict, rng: np.random.Generator) -> np.ndarray:
    noise = (rng.normal(size=vectors.shape) * state["spectrum"]) @ state["basis"].T * state["genuine_scale"]
    return (vectors + noise).astype(np.float32)


def bench_face(n: int, queries: int, k: int, seed: int, exact_below: int, target_recall: float) -> dict:
    import faiss

    from matching.search_face import FaceIndex

    faiss.omp_set_num_threads(2)
    rng = np.random.default_rng(seed + 1)
    t0 = time.perf_counter()
    data, state = synthetic_face_encodings(n, seed)
    gen_s = time.perf_counter() - t0
    rss0 = _rss_mb()
    index = FaceIndex(exact_below=exact_below)
    t0 = time.perf_counter()
    step = 250_000
    for s in range(0, n, step):  # one add above exact_below trains the IVF on everything held
        if s == 0 and n >= exact_below:
            index.add(list(range(n)), data)
            break
        index.add(list(range(s, min(n, s + step))), data[s:s + step])
    tune = None
    if index.kind == "ivf":
        tune_q = perturb_face(data[rng.integers(n, size=200)], state, rng)
        tune = index.tune_nprobe(tune_q, k=k, target_recall=target_recall)
    build_s = time.perf_counter() - t0
    rss1 = _rss_mb()
    src = rng.choice(n, size=queries, replace=False)
    q = perturb_face(data[src], state, rng)
    times, results = [], []
    for vec in q:
        t = time.perf_counter()
        results.append(index.search(vec, k))
        times.append((time.perf_counter() - t) * 1000)
    _, exact = faiss.knn(q, data, k)
    recall = float(np.mean([len(set(e.tolist()) & {i for i, _ in r}) / k for e, r in zip(exact, results)]))
    mate_top1 = float(np.mean([bool(r) and r[0][0] == s for s, r in zip(src, results)]))
    gen_d = [r[0][1] for r in results if r]
    imp = np.linalg.norm(data[rng.integers(n, size=2000)] - data[rng.integers(n, size=2000)], axis=1)
    return {
        "modality": "face", "n": n, "queries": queries, "k": k, **_pct(times),
        "recall_at_10" if k == 10 else f"recall_at_{k}": round(recall, 4),
        "memory_mb": round(index.memory_bytes() / 2 ** 20, 1), "rss_delta_mb": round(rss1 - rss0, 1),
        "build_s": round(build_s, 2), "generate_s": round(gen_s, 2),
        "index": index.kind, "nlist": index.nlist, "nprobe": index.nprobe, "tune": tune,
        "mate_top1": round(mate_top1, 4), "median_genuine_distance": round(float(np.median(gen_d)), 3),
        "median_impostor_distance": round(float(np.median(imp)), 3),
        "threads": 2, "search": "one probe per call (no batching)",
        "data": "synthetic 128-d encodings (clustered, decaying spectrum); probes = perturbed enrolled encodings; "
                "nprobe tuned on 200 separate probes",
    }


# ---------------------------------------------------------------------------------------------------- fingerprint
def _nbis_extractor():
    import nbis

    return nbis.new_nbis_extractor(nbis.NbisExtractorSettings(
        min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=False, ppi=500.0))


def base_templates(datasets: Path, limit: int | None) -> list[dict]:
    """mindtct minutiae of the FVC2000 B images: [{"name", "prefix" (ISO header), "m" (n, 5): x, y, angle_deg,
    kind_bits, quality_byte}]."""
    import cv2

    files = sorted(glob.glob(str(datasets / "fvc2000_db*_b" / "*.tif")))
    if not files:
        raise click.ClickException(f"no FVC2000 B images under {datasets}")
    if limit:
        files = files[:limit]
    ex = _nbis_extractor()
    out = []
    for f in files:
        ok, png = cv2.imencode(".png", cv2.imread(f, cv2.IMREAD_GRAYSCALE))
        iso = bytes(ex.extract_minutiae(png.tobytes()).to_iso_19794_2_2005())
        rec = _parse_iso(iso)
        if len(rec["m"]) >= 8:
            rec["name"] = f"{Path(f).parent.name}/{Path(f).stem}"
            out.append(rec)
    return out


def _parse_iso(iso: bytes) -> dict:
    """A record as nbis-py writes it (matching/iso19794.py ``NBIS``): its 26-byte header and (n, 5) minutiae x, y,
    angle_deg, kind_bits, quality_byte."""
    rec = iso19794.read_minutiae(iso, iso19794.NBIS)
    mm = rec.minutiae
    m = np.stack([mm[:, iso19794.X], mm[:, iso19794.Y], mm[:, iso19794.ANGLE] * iso19794.ANGLE_UNIT_DEG,
                  mm[:, iso19794.TYPE], mm[:, iso19794.QUALITY]], axis=1).astype(np.float64)
    return {"prefix": iso[:26], "m": m, "width": rec.width or 512, "height": rec.height or 512}


def _write_iso(prefix: bytes, m: np.ndarray) -> bytes:
    """An nbis-py record with the header ``prefix`` of (n, 5) float minutiae (rounded and clipped to the record's
    ranges)."""
    m = m[:255]
    x = np.clip(np.round(m[:, 0]), 0, 2 ** 14 - 1).astype(np.int64)
    y = np.clip(np.round(m[:, 1]), 0, 2 ** 14 - 1).astype(np.int64)
    a = np.round(m[:, 2] / iso19794.ANGLE_UNIT_DEG).astype(np.int64) % 256
    kind = m[:, 3].astype(np.int64) & 3
    quality = m[:, 4].astype(np.int64) & 0xFF
    return iso19794.write_nbis(np.stack([x, y, a, kind, quality], axis=1), like=prefix)


def perturb_minutiae(base: dict, rng: np.random.Generator) -> np.ndarray:
    """A perturbed copy: rotation +-20 deg, translation +-25 px, jitter (2 px, 6 deg), 5-25% of the minutiae dropped,
    0-15% spurious ones added near real ones; ISO angle convention (counter-clockwise on the image, y down)."""
    m = base["m"].copy()
    w, h = base["width"], base["height"]
    keep = rng.random(len(m)) >= rng.uniform(0.05, 0.25)
    m = m[keep]
    n_add = int(rng.integers(0, int(0.15 * len(base["m"])) + 1))
    if n_add and len(m):
        src = m[rng.integers(len(m), size=n_add)]
        extra = np.stack([src[:, 0] + rng.normal(0, 25, n_add), src[:, 1] + rng.normal(0, 25, n_add),
                          rng.uniform(0, 360, n_add), rng.integers(1, 3, n_add), rng.integers(5, 40, n_add)], axis=1)
        m = np.concatenate([m, extra])
    r = math.radians(rng.uniform(-20, 20))
    cx, cy = w / 2, h / 2
    dx, dy = m[:, 0] - cx, m[:, 1] - cy
    x = cx + math.cos(r) * dx + math.sin(r) * dy + rng.uniform(-25, 25)
    y = cy - math.sin(r) * dx + math.cos(r) * dy + rng.uniform(-25, 25)
    m[:, 0] = x + rng.normal(0, 2.0, len(m))
    m[:, 1] = y + rng.normal(0, 2.0, len(m))
    m[:, 2] = (m[:, 2] + math.degrees(r) + rng.normal(0, 6.0, len(m))) % 360
    inside = (m[:, 0] >= 0) & (m[:, 1] >= 0) & (m[:, 0] < w + 40) & (m[:, 1] < h + 40)
    m = m[inside]
    return m[np.lexsort((m[:, 1], m[:, 0]))]  # mindtct's order (bozorth3 is sensitive to it)


def bench_search(n: int | None = None, queries: int = 200, k: int = 10, seed: int = 7, exact_below: int = 100_000,
                 target_recall: float = 0.995) -> dict:
    """1:N face search: p50/p95 latency per probe, memory, build time and recall@k against exact search."""
    n = n or 20_000
    return bench_face(n, min(queries, n), k, seed, exact_below, target_recall)
