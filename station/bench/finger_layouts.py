"""Distinct synthetic fingers for the 1:N benchmark, as minutiae layouts synthesised directly (no image).

Rendering a print with the project's generator and extracting it costs about half a second; a gallery of 100,000
distinct fingers would take most of a day. A layout and its engine template take about 16 ms of one core instead. The
layout comes from the same finger model as the generator (drivers/fingerprint/synthetic.py: a pattern class drawn with
natural frequencies, its cores and deltas, the Sherlock-Monro orientation field with a low-frequency wobble), with the
statistics of the engine's LEADER minutiae on the real sets (FVC2000 DB1-4_B and the U.are.U sample, 840 impressions,
measured once):

- minutiae per print: median 36, 10th percentile 22, 90th 53 (log-normal);
- minutiae lie on ridges, so each one's direction is the local ridge orientation, either way along it;
- about one minutia in five has its nearest neighbour within 25 pixels pointing the other way (the two ends of a
  short ridge or a break), one in eight a neighbour within 15 pixels; about 62% are ridge endings;
- the real prints' minutiae span a median 214-271 x 242-366 pixels per set; the layouts' ellipse (170-220 x 240-300)
  is a little smaller, and a third of the minutiae come in such pairs: both brought the engine's impostor scores
  against real fingers closer to the real-against-real ones (they were lower: the layouts were too easy).

The template's bozorth3 half (in a real template, mindtct's minutiae of the same image) is a second extractor's view
of the same layout: a minutia missed now and then, positions and directions jittered, and spurious minutiae added
along the flow, so that it holds about as many as mindtct finds (median 34-80 per set).

Whether such a layout is as hard to tell apart as a real finger is measured, not assumed
(tests/station/bench/test_finger_layouts.py): the engine's impostor scores of synthetic layouts against real FVC
fingers are compared with real-against-real impostor scores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from drivers.fingerprint.synthetic import CLASS_WEIGHTS, PATTERN_CLASSES, orientation_field
from matching import iso19794
from matching.fingerprint_pipeline import iso_from_minutiae


@dataclass(frozen=True)
class LayoutParams:
    width: int = 330
    height: int = 360
    minutiae_median: float = 36.0
    minutiae_log_sd: float = 0.33  # log-normal spread: 10th-90th percentiles 24-55
    min_minutiae: int = 12
    max_minutiae: int = 80
    half_width: tuple[float, float] = (85.0, 110.0)  # fingertip ellipse, pixels
    half_height: tuple[float, float] = (120.0, 150.0)
    paired_share: float = 0.35  # minutiae placed as the other end of a short ridge or break
    pair_distance: tuple[float, float] = (8.0, 26.0)
    min_distance: float = 10.0  # between minutiae placed independently
    ending_share: float = 0.62
    direction_sd_deg: float = 7.0
    # the second extractor's view (bozorth3's half)
    second_keep: float = 0.85
    second_extra: float = 0.7  # spurious minutiae, as a share of the layout's
    second_jitter_px: float = 2.5
    second_jitter_deg: float = 8.0


def synth_layout(seed: int, index: int, p: LayoutParams = LayoutParams()) -> np.ndarray:
    """The layout of synthetic finger ``index`` of ``seed``: (n, 5) float64 minutiae x, y, theta (radians, pixel
    frame, y down), kind (1 ending, 0 bifurcation), quality 0-1, as matching/fingerprint_pipeline.py's
    ``pixel_minutiae`` gives them. The same arguments give the same layout in every process."""
    rng = np.random.default_rng([seed, index])
    cls = PATTERN_CLASSES[int(rng.choice(len(PATTERN_CLASSES), p=CLASS_WEIGHTS))]
    alpha = orientation_field(cls, rng, (p.height, p.width))
    n = int(np.clip(round(math.exp(rng.normal(math.log(p.minutiae_median), p.minutiae_log_sd))),
                    p.min_minutiae, p.max_minutiae))
    cx = p.width / 2 + rng.uniform(-15, 15)
    cy = p.height / 2 + rng.uniform(-15, 15)
    ax, ay = rng.uniform(*p.half_width), rng.uniform(*p.half_height)

    def inside(x, y):
        return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0

    def flow(x, y):
        return float(alpha[int(np.clip(y, 0, p.height - 1)), int(np.clip(x, 0, p.width - 1))])

    pts: list[tuple[float, float, float]] = []
    n_pairs = int(round(n * p.paired_share / 2))
    tries = 0
    while len(pts) < n - 2 * n_pairs and tries < 50 * n:
        tries += 1
        x, y = cx + ax * rng.uniform(-1, 1), cy + ay * rng.uniform(-1, 1)
        if not inside(x, y) or any((x - u) ** 2 + (y - v) ** 2 < p.min_distance ** 2 for u, v, _ in pts):
            continue
        pts.append((x, y, flow(x, y) + math.pi * rng.integers(2)))
    for _ in range(n_pairs):  # the two ends of a short ridge or a break: facing each other along the flow
        x, y = cx + ax * rng.uniform(-0.9, 0.9), cy + ay * rng.uniform(-0.9, 0.9)
        if not inside(x, y):
            continue
        a = flow(x, y) + math.pi * rng.integers(2)
        d = rng.uniform(*p.pair_distance)
        x2, y2 = x + d * math.cos(a), y + d * math.sin(a)
        if inside(x2, y2):
            pts += [(x, y, a), (x2, y2, a + math.pi)]
    m = np.asarray(pts, np.float64).reshape(-1, 3)
    theta = m[:, 2] + np.radians(rng.normal(0, p.direction_sd_deg, len(m)))
    kind = (rng.random(len(m)) < p.ending_share).astype(np.float64)
    quality = rng.uniform(0.75, 1.0, len(m))
    return np.stack([m[:, 0], m[:, 1], (theta + np.pi) % (2 * np.pi) - np.pi, kind, quality], axis=1)


def second_view(layout: np.ndarray, seed: int, index: int, p: LayoutParams = LayoutParams()) -> np.ndarray:
    """Another extractor's minutiae of the same finger (the bozorth3 half of a template): (n, 5) as ``synth_layout``."""
    rng = np.random.default_rng([seed, index, 2])
    m = layout[rng.random(len(layout)) < p.second_keep].copy()
    m[:, 0] += rng.normal(0, p.second_jitter_px, len(m))
    m[:, 1] += rng.normal(0, p.second_jitter_px, len(m))
    m[:, 2] += np.radians(rng.normal(0, p.second_jitter_deg, len(m)))
    n_extra = int(round(p.second_extra * len(layout)))
    if n_extra and len(layout):
        x0, x1 = layout[:, 0].min(), layout[:, 0].max()
        y0, y1 = layout[:, 1].min(), layout[:, 1].max()
        src = layout[rng.integers(len(layout), size=n_extra)]  # along the flow near a real minutia
        t = rng.uniform(-30, 30, n_extra)
        extra = np.stack([np.clip(src[:, 0] + t * np.cos(src[:, 2]), x0, x1),
                          np.clip(src[:, 1] + t * np.sin(src[:, 2]), y0, y1),
                          src[:, 2] + math.pi * rng.integers(2, size=n_extra),
                          (rng.random(n_extra) < p.ending_share).astype(np.float64),
                          rng.uniform(0.3, 0.8, n_extra)], axis=1)
        m = np.concatenate([m, extra])
    m[:, 2] = (m[:, 2] + np.pi) % (2 * np.pi) - np.pi
    return m[np.lexsort((m[:, 1], m[:, 0]))]  # mindtct's order (bozorth3 is sensitive to it)


def layout_records(seed: int, index: int, p: LayoutParams = LayoutParams()) -> tuple[bytes, bytes]:
    """The two ISO/IEC 19794-2 records of synthetic finger ``index``: the engine's minutiae (standard layout) and the
    second extractor's (nbis-py's layout, what bozorth3 reads)."""
    layout = synth_layout(seed, index, p)
    second = second_view(layout, seed, index, p)
    return (iso_from_minutiae(layout, p.width, p.height),
            iso19794.to_nbis(iso_from_minutiae(second, p.width, p.height)))
