"""DET curves on normal-deviate axes (ISO/IEC 19795-1): x = FMR, y = FNMR, both through the inverse normal CDF
(probit), so that two normal score distributions give a straight line. Tick labels are the error rates in percent.

``draw_det`` is the only DET drawing in the project (``station bench accuracy --plot`` and any report use it). The
curves' points stay fractions in data coordinates; the axes' scale does the probit. A rate of 0 cannot be placed
on a probit axis: it is drawn at the curve's resolution floor, half of one error in its number of trials.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

# Tick positions (fractions), labelled in percent; those inside the axes' limits are shown.
DET_TICKS = (1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 0.95)
UPPER_LIMIT = 0.5  # the axes end at 50% unless an EER comes near it
_CLIP = 1e-12  # probit(0) and probit(1) are infinite: rates are clipped into (0, 1) before the transform

_normal = NormalDist()
_inv_cdf = np.vectorize(_normal.inv_cdf, otypes=[float])
_cdf = np.vectorize(_normal.cdf, otypes=[float])


def probit(p) -> np.ndarray:
    """The normal deviate of each rate in ``p`` (fractions; 0 and 1 clipped just inside)."""
    return _inv_cdf(np.clip(np.asarray(p, dtype=float), _CLIP, 1 - _CLIP))


def inverse_probit(z) -> np.ndarray:
    return _cdf(np.asarray(z, dtype=float))


def percent_label(p: float) -> str:
    """0.0001 -> '0.01%', 0.05 -> '5%'."""
    return f"{100 * p:g}%"


@dataclass(frozen=True)
class DetCurve:
    """One matcher's DET points (fractions, by decreasing FMR), its EER and the floors its zero rates are drawn at."""
    name: str
    fmr: np.ndarray
    fnmr: np.ndarray
    eer: float
    fmr_floor: float
    fnmr_floor: float

    @classmethod
    def from_scores(cls, name: str, genuine, impostor, *, higher_is_better: bool = True) -> "DetCurve":
        from matching import metrics

        fmr, fnmr, _ = metrics.det_curve(genuine, impostor, higher_is_better=higher_is_better)
        return cls(name, fmr, fnmr, metrics.eer(genuine, impostor, higher_is_better=higher_is_better),
                   fmr_floor=0.5 / max(len(impostor), 1), fnmr_floor=0.5 / max(len(genuine), 1))


def _limits(curves: Sequence[DetCurve]) -> tuple[float, float]:
    """Common limits of both axes: from the tick at or below the smallest rate a curve shows inside the upper limit
    (a zero rate counts at its floor), to 50% (95% when an EER comes near 50%)."""
    eers = [c.eer for c in curves if not math.isnan(c.eer)]
    high = UPPER_LIMIT if max(eers, default=0.0) < 0.8 * UPPER_LIMIT else DET_TICKS[-1]
    smallest = []
    for c in curves:
        x, y = np.maximum(c.fmr, c.fmr_floor), np.maximum(c.fnmr, c.fnmr_floor)
        shown = (x <= high) & (y <= high)
        if shown.any():
            smallest.append(min(float(x[shown].min()), float(y[shown].min())))
    floor = min(smallest, default=1e-3)
    low = max([t for t in DET_TICKS if t <= floor] or [DET_TICKS[0]])
    return low, high


def set_probit_axes(ax, low: float, high: float) -> None:
    """Both axes of ``ax`` on the normal-deviate scale between ``low`` and ``high``, ticks in percent."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = [t for t in DET_TICKS if low <= t <= high]
    for axis, set_scale, set_lim in ((ax.xaxis, ax.set_xscale, ax.set_xlim), (ax.yaxis, ax.set_yscale, ax.set_ylim)):
        set_scale("function", functions=(probit, inverse_probit))
        set_lim(low, high)
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FuncFormatter(lambda p, _pos: percent_label(p)))
        axis.set_minor_locator(NullLocator())


def draw_det(ax, curves: Sequence[DetCurve], *, title: str | None = None) -> None:
    """The DET curves on ``ax`` (a matplotlib Axes), on probit axes, with the FMR = FNMR diagonal and each curve's
    EER marked (a dot on the diagonal, artist gid ``eer:<name>``) and labelled in percent."""
    low, high = _limits(curves)
    set_probit_axes(ax, low, high)
    ax.plot([low, high], [low, high], linestyle=":", linewidth=0.8, color="grey", label="FMR = FNMR")
    for c in curves:
        label = c.name if math.isnan(c.eer) else f"{c.name} (EER {100 * c.eer:.2f}%)"
        (line,) = ax.step(np.maximum(c.fmr, c.fmr_floor), np.maximum(c.fnmr, c.fnmr_floor), where="post",
                          label=label)
        if math.isnan(c.eer):
            continue
        at = max(c.eer, c.fmr_floor, c.fnmr_floor)
        ax.plot([at], [at], marker="o", markersize=6, linestyle="none", color=line.get_color(), gid=f"eer:{c.name}")
        ax.annotate(f"EER {100 * c.eer:.2f}%", (at, at), xytext=(7, -11), textcoords="offset points", fontsize=7,
                    color=line.get_color(), gid=f"eer-label:{c.name}")
    ax.set_xlabel("FMR (false match rate)")
    ax.set_ylabel("FNMR (false non-match rate)")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
