"""``station calibrate``: set a match threshold from a target false match rate, on benchmark data, with the station's
own matcher, and write it to this station's settings (``STATION_HOME/station.toml``, over the profile).

    station calibrate --modality fingerprint --dataset ../shared/datasets/fvc2000_db1_b --target-fmr 0.001
    station calibrate --modality face --dataset ../shared/datasets/deepface_faces --target-fmr 0.001 --dry-run

Pairs are scored as ``station bench accuracy`` scores them (matching/datasets.py: genuine = every same-subject pair,
impostor = every cross-subject pair; a failed extraction is a failure to acquire and its pairs get the worst score).
The threshold is :func:`matching.metrics.threshold_at_fmr`: the most permissive observed score whose FMR on these
impostors is at most the target (ties are matches, as in :mod:`station.polling.policy`). With fewer than ``1 / target``
impostor pairs the target cannot be resolved; the threshold is then the zero-FMR one on this data and the output says
so (``"resolvable": false``).

The fingerprint matcher is the station's (station/runtime.py builds ``NbisFingerprintMatcher``: bozorth3 scores; the
configuration has no key to choose another); calibrating another matcher (``--matcher``) is allowed only with
``--dry-run``, since its scores mean nothing to the station's. Faces use the station's ``DlibFaceEncoder`` settings.
The face threshold written is ``face.match_threshold``; the registration duplicate search follows it unless
``enrollment.face_duplicate_distance`` is set (station/config.py). The command line is station/cli/bench.py.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import click
import numpy as np

from matching.fingerprint import NbisFingerprintMatcher

SECTIONS = {"fingerprint": "fingerprint", "face": "face"}
STATION_FINGERPRINT_MATCHER = NbisFingerprintMatcher.name  # what station/runtime.py builds


def station_fingerprint_matcher_name(config) -> str:
    """The name of the fingerprint matcher the station verifies with (the same for every configuration)."""
    return STATION_FINGERPRINT_MATCHER


def fingerprint_contender(config, name: str | None = None):
    """The fingerprint matcher ``name`` (default: the station's) as a bench_accuracy Contender."""
    from station.bench.accuracy import Contender, fingerprint_contenders

    name = name or station_fingerprint_matcher_name(config)
    if name == STATION_FINGERPRINT_MATCHER:  # the station's own settings (ppi); quality is not needed to score pairs
        nbis = NbisFingerprintMatcher(ppi=config.fingerprint.ppi, compute_quality=False)
        return Contender(nbis.name, nbis, nbis.compare, True, "station")
    contenders, _ = fingerprint_contenders()
    for c in contenders:
        if c.name == name:
            return c
    known = ", ".join(c.name for c in contenders)
    raise click.UsageError(f"unknown fingerprint matcher {name!r} (known: {known})")


def face_contender(config):
    """The station's face encoder (its configured sizes) with Euclidean distance, as a bench_accuracy Contender."""
    from matching.face import DlibFaceEncoder, face_distances

    from station.bench.accuracy import Contender

    encoder = DlibFaceEncoder(max_image_px=config.face.max_image_px, upsample=config.face.upsample,
                              min_face_px=config.face.min_face_px)

    class _Extract:  # encode() under the common extract() name
        def extract(self, image):
            return encoder.encode(image)

    return Contender(encoder.name, _Extract(), lambda a, b: float(face_distances(b, a)[0]), False, "station")


def calibrate_scores(genuine: np.ndarray, impostor: np.ndarray, target_fmr: float, *,
                     higher_is_better: bool) -> dict[str, Any]:
    """Threshold at the target FMR and what it achieves on the same scores (pure; the core of the command)."""
    from matching import metrics

    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    threshold = metrics.threshold_at_fmr(g, i, target_fmr, higher_is_better=higher_is_better)
    fmr, fnmr = metrics.rates_at_threshold(g, i, threshold, higher_is_better=higher_is_better)
    accepted = int(np.sum(i >= threshold) if higher_is_better else np.sum(i <= threshold))
    return {
        "threshold": None if not math.isfinite(threshold) else float(threshold),
        "higher_is_better": higher_is_better,
        "target_fmr": target_fmr,
        "achieved_fmr": fmr,
        "fnmr": fnmr,
        "impostor_matches": accepted,
        "pairs": {"genuine": int(g.size), "impostor": int(i.size)},
        "resolvable": bool(i.size * target_fmr >= 1),
        "eer": _round(metrics.eer(g, i, higher_is_better=higher_is_better)),
    }


def _round(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def run_calibration(config, modality: str, dataset: str, target_fmr: float, *, matcher: str | None = None,
                    progress=None) -> dict[str, Any]:
    from matching import datasets

    from station.bench.accuracy import run_accuracy

    if modality == "face":
        sample_set = datasets.labelled_faces(dataset)
        contender = face_contender(config)
    else:
        sample_set = datasets.fvc_folder(dataset)
        contender = fingerprint_contender(config, matcher)
    started = time.perf_counter()
    summary, raw = run_accuracy(sample_set, [contender], contender.name, fmr_target=target_fmr, impostors="all",
                                progress=progress)
    g, i, hib = raw[contender.name]
    out = calibrate_scores(g, i, target_fmr, higher_is_better=hib)
    out.update({
        "modality": modality, "matcher": contender.name, "dataset": sample_set.name, "samples": len(sample_set),
        "subjects": summary["subjects"], "fta": summary["matchers"][contender.name]["fta"],
        "seconds": round(time.perf_counter() - started, 1),
    })
    return out


def calibrate_threshold(config, modality: str, dataset: str, target_fmr: float, *, matcher: str | None = None,
                        write: bool = True, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Calibrate ``modality``'s match threshold on ``dataset`` and, with ``write``, set it in this station's
    ``STATION_HOME/station.toml`` (validated first as the station will read it). Another fingerprint matcher than the
    station's only without ``write``."""
    from station.config import load_config, write_local_overrides
    from station.errors import StationError

    section = SECTIONS[modality]
    if modality == "face" and matcher:
        raise click.UsageError("--matcher is for fingerprints")
    station_matcher = station_fingerprint_matcher_name(config) if modality == "fingerprint" else None
    if matcher and matcher != station_matcher and write:
        raise click.UsageError(f"the station verifies with {station_matcher}: a threshold for {matcher} would be "
                               "meaningless to it (use --dry-run to only see it)")
    result = run_calibration(config, modality, dataset, target_fmr, matcher=matcher, progress=progress)
    previous = getattr(config, section).match_threshold
    result.update({"section": section, "key": "match_threshold", "previous_threshold": previous,
                   "home": str(config.home), "written": None})
    threshold = result["threshold"]
    if threshold is None:
        raise StationError(f"no finite {modality} threshold reaches FMR {target_fmr:g} on {result['dataset']} "
                           "(even the strictest observed score admits too many impostors): nothing written")
    if write:
        # validate the new value as the station will read it before writing anything
        load_config(config.profile, home=config.home, overrides={section: {"match_threshold": threshold}})
        config.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        result["written"] = str(write_local_overrides(config.home, section, {"match_threshold": threshold}))
    if not result["resolvable"]:
        result["note"] = (f"only {result['pairs']['impostor']} impostor pairs: FMR {target_fmr:g} cannot be resolved; "
                          "this is the zero-FMR threshold on this data (use a larger set)")
    return result
