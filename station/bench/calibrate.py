"""``station calibrate``: an engine's thresholds from calibration data that the evaluation never uses, written to this
station's settings (``STATION_HOME/station.toml``, over the profile).

    station calibrate --modality fingerprint [--matcher bozorth3] [--dry-run] [--json]
    station calibrate --modality fingerprint --calibration-dataset DIR ... --calibration-synthetic 40x4@1
    station calibrate --modality face [--calibration-dataset ../shared/datasets/lfw_devtrain] [--target-fmr F]

Default protocol (``DEFAULT_*`` below): fingerprints calibrate on FVC2000 DB1_B, DB2_B, the U.are.U sample and one
synthetic set of the project's generator (seed 1); ``station bench policy`` evaluates on DB3_B, DB4_B and synthetic
seed 2 (station/bench/policy.py). Faces calibrate on LFW View 1 training photos (``lfw_devtrain``) and are evaluated
on the 61-photo set.

Scores. Every set is scored as ``station bench accuracy`` scores it (matching/datasets.py: genuine = every
same-subject pair, impostor = every cross-subject pair within the set; a failed extraction is a failure to acquire
and its pairs get the worst score). Impostor scores of all calibration sets are pooled.

Fingerprints (any engine of matching/engine.py; each has its own section ``[fingerprint.<engine>]``):
- the impostor tail: :func:`matching.thresholds.fit_tail_envelope` over the pooled impostor scores and each set's (``score_at_fmr_1e3``,
  ``score_per_decade``); the 1:N decisions (cross-check, duplicate search) take their thresholds from it;
- ``match_threshold`` (1:1 at polling), for the per-comparison rate ``f = fmr_per_comparison(max_false_alarm_rate,
  fingers x attempts_per_finger)`` (an impostor who makes every attempt the station allows is accepted with
  probability at most ``fingerprint.max_false_alarm_rate``, 0.1%, if attempts were independent; ``--target-fmr`` sets
  ``f`` instead): the higher of the tail's ``score_at(f)`` (``tail_threshold``) and the score the calibration
  impostors *demonstrate* ``f`` at (``demonstrated_threshold``, :func:`matching.thresholds.demonstrated_score`: in the
  pooled scores and in each set's, so few impostors reach it that the upper end of their 95% Wilson interval is at
  most ``f``). The tail's point meets ``f`` only on average, so new impostors exceed it about half the time (the
  synthetic evaluation set did: 0.12% of impostor voters at the tail's threshold, 0.319). The trials of that interval
  are the pairs of fingers (``impostor_finger_pairs``), not the comparisons: the impressions of two fingers compared
  with each other are one piece of evidence, since a pair that matches once tends to match in every session (the
  evaluation's false accepts did: 22 from 15 pairs at 0.3214, when every comparison counted as a trial).
- ``min_features``, the capture gate (:func:`capture_gate`): the largest count of the engine's local features
  (``engine.features``: valid MCC cylinders, mindtct minutiae) that at most ``GATE_SHARE`` (0.5%) of the calibration
  captures fall below. The station treats a live print with fewer as an unusable attempt.
Face: ``face.match_threshold`` = :func:`matching.metrics.threshold_at_fmr` on the pooled calibration distances at
``fmr_per_comparison(max_false_alarm_rate, face.attempts)`` (or ``--target-fmr``): the most permissive observed
distance whose FMR on these impostors is at most the target (ties are matches, as in :mod:`station.polling.policy`);
and the face impostor tail (``distance_at_fmr_1e3``, ``distance_per_decade``:
:func:`matching.thresholds.fit_distance_tail_envelope`, a LOWER distance is more similar) from which every 1:N face
search takes its distance for the roll's size (``face.distance_for``). The JSON gives the measured tail beside the fit
(``tail_points``: the distance reached by each fraction of impostor pairs, with counts) and the distance for a few
roll sizes, marked ``extrapolated`` below the smallest rate the calibration resolved (``min_fmr_measured``).

Every achieved rate is reported with its counts and a 95% Wilson interval. ``--template-cache DIR`` keeps extracted
templates on disk (keyed by the engine's template format and extraction settings, and the image's bytes) so that a
later ``station bench policy`` run does not extract the same calibration images again. The command line is
station/cli/bench.py.
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import numpy as np

from matching.errors import DatasetError, ExtractionFailed, UnreadableImage

from station.bench import SHARED_DATASETS, check_synthetic_size

SHARED = SHARED_DATASETS
DEFAULT_FP_CALIBRATION = ("fvc2000_db1_b", "fvc2000_db2_b", "uareu_sample")  # under SHARED
DEFAULT_FP_CALIBRATION_SYNTHETIC = ("200x4@1",)  # 800 prints, 318,400 impostor pairs: enough to resolve the synthetic
# tail at the 1:1 rate (2.5e-4) on its own; 40x4 (12,480 pairs) left it to the pooled fit, and synthetic seed 2's
# impostors then matched at 0.045% per attempt against the 0.025% promised (bench policy, issue 15)
DEFAULT_FP_EVALUATION = ("fvc2000_db3_b", "fvc2000_db4_b")
DEFAULT_FP_EVALUATION_SYNTHETIC = ("500x9@2",)  # 250 voters of 2 fingers x 4 sessions = 1,000 genuine visits
DEFAULT_FACE_CALIBRATION = ("lfw_devtrain",)
DEFAULT_FACE_EVALUATION = "deepface_faces"

# Live captures of synthetic voters: the share of each condition of the generator (drivers/fingerprint/synthetic.py);
# enrolled impressions (impression 1) are normal (registration gates quality). As registration's bench: about one
# presentation in six is in a poorer condition.
QUALITY_MIX = (("normal", 0.80), ("dry", 0.06), ("wet", 0.05), ("smudged", 0.04), ("partial", 0.03), ("worn", 0.02))


# --------------------------------------------------------------------------------------------- data specs

@dataclass(frozen=True)
class DataSpec:
    """One benchmark set: a folder, or a synthetic set ``NxM@SEED`` of the project's generator."""

    folder: Path | None = None
    fingers: int = 0
    impressions: int = 0
    seed: int = 0
    limit: int = 0  # at most this many samples (whole subjects, in the set's order); 0 = all

    @property
    def synthetic(self) -> bool:
        return self.folder is None

    @property
    def label(self) -> str:
        if self.folder is not None:
            return str(self.folder) + (f"[:{self.limit}]" if self.limit else "")
        return f"synthetic {self.fingers}x{self.impressions}@{self.seed}"

    def overlaps(self, other: DataSpec) -> bool:
        """Same data: the same folder (or one inside the other), or synthetic sets of the same seed (same masters)."""
        if self.synthetic or other.synthetic:
            return self.synthetic and other.synthetic and self.seed == other.seed
        a, b = self.folder.resolve(), other.folder.resolve()
        return a == b or a in b.parents or b in a.parents


def folder_spec(path: str | Path) -> DataSpec:
    return DataSpec(folder=Path(path))


def synthetic_spec(text: str, *, default_size: str = "40x4", option: str = "--synthetic") -> DataSpec:
    """``NxM@SEED`` (N fingers x M impressions, generator seed), ``NxM`` (seed 0) or ``@SEED`` / ``SEED``."""
    m = re.fullmatch(r"\s*(?:(\d+)\s*[xX*]\s*(\d+))?\s*(?:@?\s*(-?\d+))?\s*", text or "")
    if not m or not (m[1] or m[3]):
        raise click.BadParameter(f"expected NxM@SEED (e.g. 40x4@1), got {text!r}", param_hint=option)
    if m[1] is None:
        n, k = (int(x) for x in re.split(r"[xX*]", default_size))
    else:
        n, k = int(m[1]), int(m[2])
    check_synthetic_size(n, k, option)
    return DataSpec(fingers=n, impressions=k, seed=int(m[3] or 0))


def spec_from_label(label: str) -> DataSpec:
    """The spec a ``label`` (as written in a calibration result) names."""
    if label.startswith("synthetic "):
        return synthetic_spec(label.split(" ", 1)[1])
    m = re.fullmatch(r"(.*)\[:(\d+)\]", label)
    return DataSpec(folder=Path(m[1]), limit=int(m[2])) if m else folder_spec(label)


def default_specs(folders: tuple[str, ...], synthetic: tuple[str, ...] = ()) -> list[DataSpec]:
    return [folder_spec(SHARED / f) for f in folders] + [synthetic_spec(s) for s in synthetic]


def check_disjoint(calibration: list[DataSpec], evaluation: list[DataSpec], what: str = "") -> None:
    """Refuse (a one-line usage error, exit 2) when a calibration set is also an evaluation set."""
    for c in calibration:
        for e in evaluation:
            if c.overlaps(e):
                both = c.label if c.label == e.label else f"{c.label} / {e.label}"
                raise click.UsageError(f"{what}calibration and evaluation data must be disjoint: {both} is in both")


def synthetic_quality(seed: int, finger: int, impression: int) -> str:
    """The condition of one synthetic live capture, drawn from QUALITY_MIX (deterministic; impression 0 = enrolled,
    always normal)."""
    if impression == 0:
        return "normal"
    digest = hashlib.sha256(f"quality:{seed}:{finger}:{impression}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    for name, share in QUALITY_MIX:
        acc += share
        if u < acc:
            return name
    return QUALITY_MIX[0][0]


def synthetic_set(spec: DataSpec):
    """The project's generator (drivers/fingerprint/synthetic.py) as a SampleSet: masters ``bench-<finger>`` of the
    spec's seed (the masters of ``station bench accuracy --synthetic``), live impressions in the QUALITY_MIX."""
    from drivers.fingerprint.synthetic import generate_master, render_impression
    from matching.datasets import synthetic_fingerprints

    cache: dict[int, Any] = {}
    seed = spec.seed

    def render(finger: int, impression: int) -> np.ndarray:
        if finger not in cache:
            cache.clear()
            cache[finger] = generate_master(f"bench-{finger:05d}", seed)
        return render_impression(cache[finger], impression=impression, seed=seed,
                                 quality=synthetic_quality(seed, finger, impression))

    return synthetic_fingerprints(spec.fingers, spec.impressions, render,
                                  name=f"synthetic_{spec.fingers}x{spec.impressions}_seed{seed}")


def load_set(spec: DataSpec, modality: str):
    """The SampleSet of a spec; a missing folder is an error naming it (never skipped)."""
    from matching import datasets

    if spec.synthetic:
        if modality != "fingerprint":
            raise click.UsageError("synthetic sets are fingerprints only")
        return synthetic_set(spec)
    if not spec.folder.is_dir():
        raise click.UsageError(f"no such dataset folder: {spec.folder}")
    s = datasets.labelled_faces(spec.folder) if modality == "face" else datasets.fvc_folder(spec.folder)
    if spec.limit and spec.limit < len(s):
        n = spec.limit
        while 0 < n < len(s) and s.samples[n].subject == s.samples[n - 1].subject:
            n -= 1  # whole subjects only
        s = replace(s, name=f"{s.name}[:{n}]", samples=s.samples[:n])
    return s


def limited(specs: list[DataSpec], limit: int | None) -> list[DataSpec]:
    return [replace(s, limit=int(limit)) if limit and not s.synthetic else s for s in specs]


# --------------------------------------------------------------------------------------------- contenders

def fingerprint_contender(config, name: str | None = None):
    """The fingerprint engine ``name`` (default: the configured one) as a bench_accuracy Contender."""
    from matching.engine import ENGINES, make_engine
    from station.bench.accuracy import Contender

    name = name or config.fingerprint.matcher
    if name not in ENGINES:
        raise click.UsageError(f"unknown fingerprint matcher {name!r} (known: {', '.join(ENGINES)})")
    engine = make_engine(name, ppi=config.fingerprint.ppi)
    return Contender(engine.name, engine, engine.compare, True, "station")


def face_contender(config):
    """The station's face encoder (its configured sizes) with Euclidean distance, as a bench_accuracy Contender."""
    from matching.face import DlibFaceEncoder, face_distances
    from station.bench.accuracy import Contender

    encoder = DlibFaceEncoder(max_image_px=config.face.max_image_px, upsample=config.face.upsample,
                              min_face_px=config.face.min_face_px, fallback=config.face.fallback,
                              cnn_px=config.face.fallback_cnn_px)

    class _Extract:  # encode() under the common extract() name
        template_format = (f"{encoder.name}/{config.face.max_image_px}/{config.face.upsample}/"
                           f"{config.face.min_face_px}/{config.face.fallback}/{config.face.fallback_cnn_px}")

        def extract(self, image):
            return encoder.encode(image)

    return Contender(encoder.name, _Extract(), lambda a, b: float(face_distances(b, a)[0]), False, "station")


class TemplateCache:
    """Extracted templates on disk, keyed by the extractor's template format, its extraction settings and the image's
    bytes (so a changed image, engine version or extraction never reads a stale template). A failed extraction is
    cached as a failure."""

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder else None

    def wrap(self, extractor: Any, namespace: str) -> Any:
        if self.folder is None:
            return extractor
        return _CachedExtractor(extractor, self.folder, namespace)


class _CachedExtractor:
    def __init__(self, inner: Any, folder: Path, namespace: str) -> None:
        self.inner, self.folder = inner, folder
        fmt = getattr(inner, "template_format", None) or type(inner).__name__
        settings = getattr(inner, "extraction_settings", "")  # an engine's extraction changed within one format
        key = f"{namespace}|{fmt}|{settings}" if settings else f"{namespace}|{fmt}"  # (older caches stay valid)
        self.namespace = hashlib.sha256(key.encode()).hexdigest()[:16]

    def extract(self, image: np.ndarray):
        image = np.ascontiguousarray(image)
        key = hashlib.sha256(f"{image.shape}|{image.dtype}".encode() + image.tobytes()).hexdigest()
        path = self.folder / self.namespace / key[:2] / f"{key}.pkl"
        if path.is_file():
            kind, value = pickle.loads(path.read_bytes())
        else:
            try:
                t = self.inner.extract(image)
                vector = getattr(t, "vector", None)
                kind, value = ("face", np.asarray(vector)) if vector is not None else \
                    ("bytes", (bytes(t.data), int(getattr(t, "minutiae_count", 1))))
            except Exception as exc:  # noqa: BLE001 - cached as a failure to acquire
                kind, value = "failed", f"{type(exc).__name__}: {exc}"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent runs may share a cache
            tmp.write_bytes(pickle.dumps((kind, value)))
            tmp.replace(path)
        if kind == "failed":
            raise ExtractionFailed(value)  # the cached failure to acquire, as the extractor raised it
        if kind == "face":
            return SimpleNamespace(vector=value)
        return SimpleNamespace(data=value[0], minutiae_count=value[1])


# --------------------------------------------------------------------------------------------- scoring

def _payloads(sample_set, extractor, progress) -> tuple[list[Any], int, list[Path]]:
    """Each sample's template payload (None: a failure to acquire), how many failed, and the image files that could
    not be read at all (never counted as failures to acquire: the data set is broken, not the capture)."""
    from station.bench.accuracy import _template_payload

    progress(f"{sample_set.name}: extracting {len(sample_set)} images")
    out, failed, unreadable = [], 0, []
    for k in range(len(sample_set)):
        try:
            image = sample_set.image(k)
        except UnreadableImage as exc:
            unreadable.append(Path(exc.path))
            out.append(None)
            continue
        try:
            t = extractor.extract(image)
            if getattr(t, "minutiae_count", 1) == 0:
                t = None
        except Exception:  # noqa: BLE001 - a failed extraction is a failure to acquire, counted
            t = None
        failed += t is None
        out.append(None if t is None else _template_payload(t))
    return out, failed, unreadable


def unreadable_images(spec: DataSpec, total: int, unreadable: list[Path]) -> DatasetError:
    """The one-line error of a set with images that cannot be read: how many, and the first."""
    first = unreadable[0]
    try:
        empty = ", 0 bytes" if first.stat().st_size == 0 else ""
    except OSError:
        empty = ""
    return DatasetError(f"{len(unreadable)} of {total} images of {spec.label} could not be read (empty, damaged or "
                        f"not in a format OpenCV decodes; the first: {first}{empty}): nothing calibrated")


def _score(contender, payloads: list[Any], pairs: np.ndarray) -> np.ndarray:
    worst = -math.inf if contender.higher_is_better else math.inf
    scores = np.full(len(pairs), worst, dtype=np.float64)
    if not contender.higher_is_better and all(p is not None for p in payloads) and payloads and \
            isinstance(payloads[0], np.ndarray):  # face vectors: Euclidean distances, vectorised
        v = np.stack([np.asarray(p, np.float32) for p in payloads])
        for start in range(0, len(pairs), 200_000):
            chunk = pairs[start:start + 200_000]
            scores[start:start + len(chunk)] = np.linalg.norm(v[chunk[:, 0]] - v[chunk[:, 1]], axis=1)
        return scores
    for n, (i, j) in enumerate(pairs):
        a, b = payloads[i], payloads[j]
        if a is None or b is None:
            continue
        try:
            s = float(contender.compare(a, b))
        except Exception:  # noqa: BLE001, S112 - a comparison that fails is a non-match (the worst score)
            continue
        if not math.isnan(s):
            scores[n] = s
    return scores


def score_sets(specs: list[DataSpec], modality: str, contender, *, cache: TemplateCache | None = None,
               progress=None) -> dict[str, Any]:
    """Genuine and impostor scores of every set (pairs within a set), pooled; per-set counts."""
    say = progress or (lambda _m: None)
    extractor = (cache or TemplateCache(None)).wrap(contender.extractor, contender.name)
    genuine, impostor, clusters, per_set, features = [], [], [], [], []
    count_features = getattr(contender.extractor, "features", None)  # a fingerprint engine's (not faces')
    for spec in specs:
        sample_set = load_set(spec, modality)
        payloads, failed, unreadable = _payloads(sample_set, extractor, say)
        if unreadable:
            raise unreadable_images(spec, len(sample_set), unreadable)
        if count_features is not None:
            features.extend(count_features(p) for p in payloads if p is not None)
        g_pairs, i_pairs = sample_set.genuine_pairs(), sample_set.impostor_pairs_all()
        say(f"{sample_set.name}: scoring {len(g_pairs)} genuine + {len(i_pairs)} impostor pairs")
        genuine.append(_score(contender, payloads, g_pairs))
        impostor.append(_score(contender, payloads, i_pairs))
        clusters.append(subject_pairs(sample_set.subjects, i_pairs))
        per_set.append({"name": sample_set.name, "source": spec.label, "samples": len(sample_set),
                        "subjects": len({s.subject for s in sample_set.samples}),
                        "extraction_failures": failed,
                        "pairs": {"genuine": len(g_pairs), "impostor": len(i_pairs)}})
    return {"genuine": np.concatenate(genuine) if genuine else np.empty(0),
            "impostor": np.concatenate(impostor) if impostor else np.empty(0), "impostor_sets": impostor,
            "impostor_clusters": clusters, "sets": per_set, "features": np.asarray(features, dtype=np.int64)}


def subject_pairs(subjects, pairs: np.ndarray) -> np.ndarray:
    """For each (i, j) sample pair, the id of its unordered pair of subjects (fingers): the comparisons that are not
    independent of each other."""
    ids, subject = np.unique(np.asarray(subjects), return_inverse=True)
    a, b = subject[pairs[:, 0]], subject[pairs[:, 1]]
    return np.minimum(a, b).astype(np.int64) * (len(ids) + 1) + np.maximum(a, b)


def rate(errors: int, trials: int) -> dict[str, Any]:
    """A rate with its counts and 95% Wilson interval."""
    from matching.metrics import wilson_interval

    lo, hi = wilson_interval(errors, trials)
    return {"rate": None if trials == 0 else round(errors / trials, 6), "ci": [round(lo, 6), round(hi, 6)],
            "counts": {"errors": int(errors), "trials": int(trials)}}


def calibrate_scores(genuine: np.ndarray, impostor: np.ndarray, target_fmr: float, *,
                     higher_is_better: bool) -> dict[str, Any]:
    """Empirical threshold at the target FMR and what it achieves on the same scores (faces; pure)."""
    from matching import metrics

    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    threshold = metrics.threshold_at_fmr(g, i, target_fmr, higher_is_better=higher_is_better)
    fmr, fnmr = metrics.rates_at_threshold(g, i, threshold, higher_is_better=higher_is_better)
    accepted = int(np.sum(i >= threshold) if higher_is_better else np.sum(i <= threshold))
    rejected = int(np.sum(g < threshold) if higher_is_better else np.sum(g > threshold))
    return {
        "threshold": None if not math.isfinite(threshold) else float(threshold),
        "higher_is_better": higher_is_better,
        "target_fmr": target_fmr,
        "achieved_fmr": fmr,
        "achieved_fmr_ci": rate(accepted, int(i.size))["ci"],
        "fnmr": fnmr,
        "fnmr_ci": rate(rejected, int(g.size))["ci"],
        "impostor_matches": accepted,
        "genuine_non_matches": rejected,
        "pairs": {"genuine": int(g.size), "impostor": int(i.size)},
        "resolvable": bool(i.size * target_fmr >= 1),
        "eer": _round(metrics.eer(g, i, higher_is_better=higher_is_better)),
    }


def fingerprint_thresholds(impostor: np.ndarray, genuine: np.ndarray, *, comparisons: int, alarm_rate: float,
                           target_fmr: float | None = None, cross_check_last: int = 200,
                           impostor_sets: list[np.ndarray] | None = None,
                           impostor_clusters: list[np.ndarray] | None = None) -> dict[str, Any]:
    """The tail and the 1:1 threshold from calibration scores (pure; the core of the fingerprint calibration). With
    ``impostor_sets`` (the pooled impostors split by calibration set) the tail bounds each set's as well as the pooled
    one (matching.thresholds.fit_tail_envelope). ``impostor_clusters`` (per set, each comparison's pair of fingers:
    ``subject_pairs``) make each pair of fingers one trial of the demonstrated threshold."""
    from matching.thresholds import demonstrated_score, fit_tail, fit_tail_envelope, fmr_per_comparison, threshold_for

    i = np.asarray(impostor, dtype=np.float64)
    g = np.asarray(genuine, dtype=np.float64)
    try:
        fit = fit_tail_envelope(impostor_sets) if impostor_sets else fit_tail(i)
    except ValueError as exc:
        raise click.UsageError(f"calibration data too small: {exc}") from None
    per_comparison = float(target_fmr) if target_fmr is not None else fmr_per_comparison(alarm_rate, comparisons)
    on_tail = round(float(fit.tail.score_at(per_comparison)), 4)
    clusters = impostor_clusters if impostor_sets else None  # ids that belong to the split scores
    demonstrated = demonstrated_score(impostor_sets or [i], per_comparison, clusters=clusters)
    threshold = on_tail if demonstrated is None else max(on_tail, demonstrated)
    if threshold <= 0:
        raise click.UsageError(f"calibrated match_threshold {threshold} is not positive: the calibration data "
                               "cannot set it")
    cross = threshold_for(fit.tail, cross_check_last, alarm_rate, floor=threshold)
    return {
        "tail": {"score_at_fmr_1e3": fit.tail.score_at_fmr_1e3, "score_per_decade": fit.tail.score_per_decade},
        "impostor_count": fit.impostor_count, "min_fmr_measured": fit.min_fmr_measured,
        "comparisons_per_voter": int(comparisons), "max_false_alarm_rate": alarm_rate,
        "fmr_per_comparison": per_comparison, "extrapolated": per_comparison < fit.min_fmr_measured,
        "tail_threshold": on_tail, "demonstrated_threshold": demonstrated, "match_threshold": threshold,
        "impostor_finger_pairs": None if clusters is None else int(sum(len(np.unique(c)) for c in clusters)),
        "at_match_threshold": {"fmr": rate(int(np.sum(i >= threshold)), int(i.size)),
                               "fnmr": rate(int(np.sum(g < threshold)), int(g.size))},
        "cross_check": {"comparisons": cross_check_last, "threshold": round(float(cross), 4)},
    }


GATE_SHARE = 0.005  # the capture gate refuses at most this share of the calibration captures


def capture_gate(features: np.ndarray, share: float = GATE_SHARE) -> dict[str, Any]:
    """``min_features``: the largest gate that refuses at most ``share`` of the calibration captures (their counts of
    the engine's local features, ``engine.features``). The thresholds are demonstrated on captures of the sizes the
    calibration held; a live print smaller than all but the smallest ``share`` of them is outside that evidence (a
    3-cylinder print matched 76 of 100,000 synthetic fingers at the 1:1 threshold) and is retaken instead."""
    f = np.sort(np.asarray(features, dtype=np.int64))
    if f.size == 0:
        raise click.UsageError("calibration data too small: no template to set the capture gate from")
    allowed = int(math.floor(share * f.size))  # captures the gate may refuse
    gate = int(f[allowed])  # refuses f[:allowed] at most (fewer when f[allowed] ties with those before it)
    return {"min_features": gate, "share": share,
            "refused": rate(int(np.sum(f < gate)), int(f.size)),
            "features_percentiles": {p: int(np.percentile(f, p, method="lower")) for p in (1, 5, 50)}}


def _round(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


# --------------------------------------------------------------------------------------------- the command

def calibrate_fingerprint(config, specs: list[DataSpec], *, matcher: str | None = None,
                          target_fmr: float | None = None, cache: TemplateCache | None = None,
                          progress=None, contender=None) -> dict[str, Any]:
    """Score the calibration sets with the engine and derive its thresholds (nothing written)."""
    if not specs:
        raise click.UsageError("no fingerprint calibration data")
    contender = contender or fingerprint_contender(config, matcher)
    started = time.perf_counter()
    scored = score_sets(specs, "fingerprint", contender, cache=cache, progress=progress)
    fp = config.fingerprint
    out = fingerprint_thresholds(scored["impostor"], scored["genuine"], impostor_sets=scored["impostor_sets"],
                                 impostor_clusters=scored["impostor_clusters"],
                                 comparisons=len(fp.fingers) * fp.attempts_per_finger,
                                 alarm_rate=fp.max_false_alarm_rate, target_fmr=target_fmr,
                                 cross_check_last=config.audit.cross_check_last)
    out["capture_gate"] = capture_gate(scored["features"])
    out.update({"modality": "fingerprint", "matcher": contender.name, "calibration": scored["sets"],
                "pairs": {"genuine": int(scored["genuine"].size), "impostor": int(scored["impostor"].size)},
                "seconds": round(time.perf_counter() - started, 1)})
    return out


FACE_ROLL_SIZES = (1, 1_000, 25_000, 2_670_000, 130_000_000)  # reported: a station, the dedup bench, AJK, Pakistan


def face_tail(impostor: np.ndarray, genuine: np.ndarray, *, match_threshold: float, alarm_rate: float,
              impostor_sets: list[np.ndarray] | None = None) -> dict[str, Any]:
    """The face impostor tail and the 1:N distances it gives (pure; the core of the face tail calibration). Distances:
    lower is more similar. A pair with a photo where no face was found has no distance and is left out of the tail
    and of the rates here (a 1:N search compares encoded faces only; the 1:1 threshold counts it as a non-match)."""
    from matching.thresholds import (distance_for, empirical_distance_tail, fit_distance_tail,
                                     fit_distance_tail_envelope, fmr_per_comparison)

    i_all = np.asarray(impostor, dtype=np.float64)
    g_all = np.asarray(genuine, dtype=np.float64)
    i, g = i_all[np.isfinite(i_all)], g_all[np.isfinite(g_all)]
    try:
        fit = fit_distance_tail_envelope(impostor_sets) if impostor_sets else fit_distance_tail(i)
    except ValueError as exc:
        raise click.UsageError(f"calibration data too small: {exc}") from None
    if fit.tail.distance_per_decade <= 0 or fit.tail.distance_at_fmr_1e3 <= 0:
        raise click.UsageError(f"the face impostor tail {fit.tail} cannot set a distance")
    rolls = []
    for n in FACE_ROLL_SIZES:
        d = distance_for(fit.tail, n, alarm_rate, cap=match_threshold)
        fmr = fmr_per_comparison(alarm_rate, n)
        rolls.append({"roll_faces": n, "fmr_per_comparison": fmr, "distance": round(d, 4),
                      "capped_at_1_to_1": d >= match_threshold, "extrapolated": fmr < fit.min_fmr_measured,
                      "impostor_pairs_at_or_below": rate(int(np.sum(i <= d)), int(i.size)),
                      "genuine_pairs_above": rate(int(np.sum(g > d)), int(g.size))})
    return {"tail": {"distance_at_fmr_1e3": fit.tail.distance_at_fmr_1e3,
                     "distance_per_decade": fit.tail.distance_per_decade},
            "impostor_count": fit.impostor_count, "min_fmr_measured": fit.min_fmr_measured,
            "pairs_without_a_face_left_out": {"impostor": int(i_all.size - i.size), "genuine": int(g_all.size - g.size)},
            "tail_points": empirical_distance_tail(i), "max_false_alarm_rate": alarm_rate, "roll_distances": rolls}


def calibrate_face(config, specs: list[DataSpec], *, target_fmr: float | None = None,
                   cache: TemplateCache | None = None, progress=None, contender=None) -> dict[str, Any]:
    from matching.thresholds import fmr_per_comparison

    if not specs:
        raise click.UsageError("no face calibration data")
    contender = contender or face_contender(config)
    started = time.perf_counter()
    scored = score_sets(specs, "face", contender, cache=cache, progress=progress)
    alarm_rate = config.fingerprint.max_false_alarm_rate
    target = target_fmr if target_fmr is not None else fmr_per_comparison(alarm_rate, config.face.attempts)
    out = calibrate_scores(scored["genuine"], scored["impostor"], target, higher_is_better=False)
    out.update({"modality": "face", "matcher": contender.name, "calibration": scored["sets"],
                "match_threshold": out["threshold"]})
    if out["threshold"] is not None:
        out.update(face_tail(scored["impostor"], scored["genuine"], match_threshold=round(out["threshold"], 4),
                             alarm_rate=alarm_rate, impostor_sets=scored["impostor_sets"]))
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def calibrate_threshold(config, modality: str, specs: list[DataSpec] | None = None, target_fmr: float | None = None,
                        *, matcher: str | None = None, write: bool = True, cache_dir: str | None = None,
                        limit: int | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Calibrate ``modality`` on ``specs`` (default: the default protocol's calibration data) and, with ``write``, set
    the values in this station's ``STATION_HOME/station.toml`` (validated first as the station will read them)."""
    from station.config import load_config, write_local_overrides
    from station.errors import StationError

    cache = TemplateCache(cache_dir)
    if modality == "face":
        if matcher:
            raise click.UsageError("--matcher is for fingerprints")
        specs = limited(specs or default_specs(DEFAULT_FACE_CALIBRATION), limit)
        check_disjoint(specs, [folder_spec(SHARED / DEFAULT_FACE_EVALUATION)], "face ")  # the evaluation set: never
        result = calibrate_face(config, specs, target_fmr=target_fmr,
                                cache=cache, progress=progress)
        if result["threshold"] is None:
            raise StationError(f"no finite face threshold reaches FMR {result['target_fmr']:g} on the calibration "
                               "data: nothing written")
        section, values = "face", {"match_threshold": round(result["threshold"], 4), **result["tail"]}
        previous = {"match_threshold": config.face.match_threshold,
                    "distance_at_fmr_1e3": config.face.distance_at_fmr_1e3,
                    "distance_per_decade": config.face.distance_per_decade}
        overrides = {"face": values}
        if not result["resolvable"]:
            result["note"] = (f"only {result['pairs']['impostor']} impostor pairs: FMR {result['target_fmr']:g} "
                              "cannot be resolved; this is the zero-FMR threshold on this data (use a larger set)")
    else:
        specs = limited(specs or default_specs(DEFAULT_FP_CALIBRATION, DEFAULT_FP_CALIBRATION_SYNTHETIC), limit)
        result = calibrate_fingerprint(config, specs, matcher=matcher, target_fmr=target_fmr, cache=cache,
                                       progress=progress)
        name = result["matcher"]
        values = {"match_threshold": result["match_threshold"], **result["tail"],
                  "min_features": result["capture_gate"]["min_features"]}
        current = getattr(config.fingerprint, name)
        section = f"fingerprint.{name}"
        previous = {"match_threshold": current.match_threshold, "score_at_fmr_1e3": current.score_at_fmr_1e3,
                    "score_per_decade": current.score_per_decade, "min_features": current.min_features}
        overrides = {"fingerprint": {name: values}}
    result.update({"section": section, "values": values, "previous": previous, "home": str(config.home),
                   "written": None})
    if write:
        load_config(config.profile, home=config.home, overrides=overrides)  # validate as the station will read it
        config.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        top, body = next(iter(overrides.items()))
        result["written"] = str(write_local_overrides(config.home, top, body))
    return result
