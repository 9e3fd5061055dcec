"""Deterministic synthetic fingerprints (SFinGe-like) for tests and benchmarks.

A *master* is the ridge pattern of one finger, grown from noise by iterated
oriented Gabor filtering along an orientation field built from singular points
(cores and deltas, Sherlock-Monro model).  An *impression* is one simulated
touch of that finger on a 500 dpi optical sensor: rotation, translation, a soft
elliptical contact area, elastic skin distortion, pressure, sensor noise and
blur, plus an optional degradation profile (dry, wet, worn, partial, smudged).

Everything is derived from SHA-256 seeded numpy generators, so the same inputs
give bit-identical outputs in every process.  Only numpy and OpenCV are used.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

__all__ = [
    "DEFAULT_SIZE",
    "PATTERN_CLASSES",
    "CLASS_WEIGHTS",
    "orientation_field",
    "QUALITY_PROFILES",
    "FingerPattern",
    "generate_master",
    "load_master",
    "render_impression",
    "save_master",
]

QUALITY_PROFILES: tuple[str, ...] = ("normal", "dry", "wet", "worn", "partial", "smudged")
PATTERN_CLASSES: tuple[str, ...] = ("loop_left", "loop_right", "whorl", "arch", "tented_arch")
DEFAULT_SIZE: tuple[int, int] = (400, 320)  # (H, W) at 500 dpi

# Approximate natural class frequencies (Wilson et al.), in PATTERN_CLASSES order.
CLASS_WEIGHTS = (0.32, 0.30, 0.28, 0.05, 0.05)

_N_ORIENTATIONS = 12
_N_PASSES = 12
_GAIN = 2.0
_FILE_FORMAT = "voter-station/synthetic-finger"
_FILE_VERSION = 1


@dataclass(frozen=True, eq=False)
class FingerPattern:
    """The master ridge pattern of one synthetic finger.

    ``ridges`` is a read-only float32 HxW array in [-1, 1] (ridge = +1).  Its
    values lie on a 256-level grid so that :func:`save_master` /
    :func:`load_master` round-trip it bit-exactly.
    """

    subject: str
    seed: int
    ridges: np.ndarray = field(repr=False)
    pattern_class: str

    def __post_init__(self) -> None:
        if self.ridges.ndim != 2:
            raise ValueError("ridges must be a 2-D array")
        if self.pattern_class not in PATTERN_CLASSES:
            raise ValueError(f"unknown pattern class {self.pattern_class!r}")
        ridges = np.array(self.ridges, dtype=np.float32, copy=True)
        ridges.setflags(write=False)
        object.__setattr__(self, "ridges", ridges)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the ridge canvas (and of every impression)."""
        return self.ridges.shape  # type: ignore[return-value]


# --------------------------------------------------------------------------- #
# Random helpers
# --------------------------------------------------------------------------- #
def _rng(key: str) -> np.random.Generator:
    """A numpy generator seeded from the SHA-256 digest of ``key``."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean, unit-ish std noise with a correlation length of about ``cell`` px."""
    h, w = shape
    gh, gw = max(2, int(math.ceil(h / cell)) + 2), max(2, int(math.ceil(w / cell)) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    fine = cv2.resize(coarse, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    oy, ox = (fine.shape[0] - h) // 2, (fine.shape[1] - w) // 2
    return np.ascontiguousarray(fine[oy : oy + h, ox : ox + w])


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids (x, y) as float32."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return xx, yy


# --------------------------------------------------------------------------- #
# Master: orientation field
# --------------------------------------------------------------------------- #
def _singular_points(
    cls: str, rng: np.random.Generator, shape: tuple[int, int]
) -> tuple[list[complex], list[complex]]:
    """Cores and deltas (as complex x + iy image positions) for a pattern class."""
    h, w = shape
    u = rng.uniform
    cx, cy = w * (0.5 + u(-0.07, 0.07)), h * (0.42 + u(-0.06, 0.06))
    if cls in ("loop_left", "loop_right"):
        side = 1.0 if cls == "loop_left" else -1.0  # delta opposite the loop opening
        delta = complex(cx + side * w * u(0.24, 0.36), cy + h * u(0.22, 0.32))
        return [complex(cx, cy)], [delta]
    if cls == "whorl":
        sep = h * u(0.04, 0.10)
        tilt = u(-0.4, 0.4)
        c1 = complex(cx - sep * math.sin(tilt), cy - sep * math.cos(tilt))
        c2 = complex(cx + sep * math.sin(tilt), cy + sep * math.cos(tilt))
        dy = cy + h * u(0.25, 0.33)
        d1 = complex(cx - w * u(0.30, 0.40), dy + h * u(-0.04, 0.04))
        d2 = complex(cx + w * u(0.30, 0.40), dy + h * u(-0.04, 0.04))
        return [c1, c2], [d1, d2]
    if cls == "tented_arch":
        delta = complex(cx + w * u(-0.03, 0.03), cy + h * u(0.14, 0.22))
        return [complex(cx, cy)], [delta]
    return [], []


def _arch_orientation(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Ridge directions of a plain arch: horizontal ridges bulging upwards."""
    h, w = shape
    xx, yy = _grid(shape)
    xc, s = w * (0.5 + rng.uniform(-0.06, 0.06)), w * rng.uniform(0.22, 0.30)
    yc, sy = h * rng.uniform(0.50, 0.62), h * rng.uniform(0.25, 0.35)
    k = rng.uniform(1.6, 2.4)
    dx = (xx - xc) / s
    slope = k * dx * np.exp(-(dx**2)) * np.exp(-(((yy - yc) / sy) ** 2))
    return np.arctan(slope).astype(np.float32)


def orientation_field(cls: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Local ridge direction (radians, image coordinates) for every pixel."""
    if cls == "arch":
        alpha = _arch_orientation(rng, shape)
    else:
        cores, deltas = _singular_points(cls, rng, shape)
        xx, yy = _grid(shape)
        z = xx.astype(np.complex64) - 1j * yy  # y up: Sherlock-Monro in math orientation
        acc = np.zeros(shape, np.float32)
        for d in deltas:
            acc += np.angle(z - complex(d.real, -d.imag)).astype(np.float32)
        for c in cores:
            acc -= np.angle(z - complex(c.real, -c.imag)).astype(np.float32)
        alpha = 0.5 * acc
    return _perturb_orientation(alpha, rng)


def _perturb_orientation(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a gentle low-frequency wobble to an orientation field."""
    c, s = np.cos(2 * alpha), np.sin(2 * alpha)
    amp = 0.30
    c = c + amp * _smooth_noise(rng, alpha.shape, 90.0)
    s = s + amp * _smooth_noise(rng, alpha.shape, 90.0)
    return (0.5 * np.arctan2(s, c)).astype(np.float32)


# --------------------------------------------------------------------------- #
# Master: ridge growth
# --------------------------------------------------------------------------- #
def _gabor_bank(n: int, period: float, sigma: float) -> list[tuple[np.ndarray, ...]]:
    """Separable decomposition of ``n`` isotropic even Gabor filters.

    cos(f(x nx + y ny)) = cos(f x nx) cos(f y ny) - sin(f x nx) sin(f y ny), so each
    oriented filter is the difference of two separable filters.
    """
    r = int(round(3 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2))
    f = 2 * np.pi / period
    bank = []
    for k in range(n):
        a = np.pi * k / n
        nx, ny = -math.sin(a), math.cos(a)  # wave vector: normal to the ridge direction
        parts = (np.cos(f * nx * x), np.cos(f * ny * x), np.sin(f * nx * x), np.sin(f * ny * x))
        bank.append(tuple((g * p).astype(np.float32) for p in parts))
    return bank


def _orientation_weights(alpha: np.ndarray, n: int) -> list[np.ndarray]:
    """Per-bin weights linearly blending the two orientation bins nearest ``alpha``."""
    a = np.mod(alpha, np.pi) / (np.pi / n)
    k0 = np.floor(a).astype(np.int32) % n
    frac = (a - np.floor(a)).astype(np.float32)
    k1 = (k0 + 1) % n
    return [np.where(k0 == k, 1 - frac, 0) + np.where(k1 == k, frac, 0) for k in range(n)]


def _grow_ridges(alpha: np.ndarray, period: float, rng: np.random.Generator) -> np.ndarray:
    """Grow ridges from white noise by iterated orientation-adaptive Gabor filtering."""
    bank = _gabor_bank(_N_ORIENTATIONS, period, sigma=0.4 * period)
    weights = [w.astype(np.float32) for w in _orientation_weights(alpha, _N_ORIENTATIONS)]
    x = rng.standard_normal(alpha.shape).astype(np.float32)
    border = cv2.BORDER_REFLECT
    for _ in range(_N_PASSES):
        out = np.zeros_like(x)
        for (cx, cy, sx, sy), w in zip(bank, weights):
            resp = cv2.sepFilter2D(x, -1, cx, cy, borderType=border)
            resp -= cv2.sepFilter2D(x, -1, sx, sy, borderType=border)
            out += w * resp
        out *= 1.0 / (float(np.sqrt(np.mean(out * out))) + 1e-6)
        x = np.tanh(_GAIN * out)
    return x


def _vary_period(ridges: np.ndarray, rng: np.random.Generator, amount: float = 4.0) -> np.ndarray:
    """Warp the ridge pattern smoothly so that the ridge period varies by ~+-8 %."""
    xx, yy = _grid(ridges.shape)
    dx = amount * _smooth_noise(rng, ridges.shape, 110.0)
    dy = amount * _smooth_noise(rng, ridges.shape, 110.0)
    return cv2.remap(ridges, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _quantize(ridges: np.ndarray) -> np.ndarray:
    """Map [-1, 1] to the 256-level grid used on disk (exactly reproducible)."""
    q = np.clip(np.rint((ridges + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return _dequantize(q)


def _dequantize(q: np.ndarray) -> np.ndarray:
    return (q.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)


def generate_master(subject: str, seed: int = 0, *, size: tuple[int, int] = DEFAULT_SIZE) -> FingerPattern:
    """Generate the master ridge pattern of the finger ``subject``.

    Deterministic: the same ``(subject, seed, size)`` always gives bit-identical
    ridges.  ``size`` is (H, W) in pixels at 500 dpi.
    """
    h, w = int(size[0]), int(size[1])
    if h < 64 or w < 64:
        raise ValueError(f"size too small: {size!r}")
    rng = _rng(f"{seed}:{subject}")
    cls = PATTERN_CLASSES[int(rng.choice(len(PATTERN_CLASSES), p=CLASS_WEIGHTS))]
    period = float(rng.uniform(8.6, 9.6))
    alpha = orientation_field(cls, rng, (h, w))
    ridges = _grow_ridges(alpha, period, rng)
    ridges = _vary_period(ridges, rng)
    return FingerPattern(subject=subject, seed=int(seed), ridges=_quantize(ridges), pattern_class=cls)


# --------------------------------------------------------------------------- #
# Impressions
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Profile:
    """Rendering parameters of one quality profile."""

    contact_scale: tuple[float, float] = (0.92, 1.05)  # ellipse size factor range
    centre_shift: float = 0.04  # max contact-centre offset (fraction of W/H)
    threshold: tuple[float, float] = (-0.15, 0.15)  # ridge threshold (pressure) range
    softness: float = 0.35  # ridge edge softness before thresholding
    darkness: tuple[float, float] = (190.0, 225.0)  # ridge darkness (grey levels)
    pre_blur: float = 0.0  # blur of the ridge field before thresholding (wet merging)
    noise: float = 4.0  # sensor noise std (grey levels)
    blur: float = 0.7  # optics blur sigma
    distortion: float = 1.0  # elastic distortion scale
    extras: tuple[str, ...] = ()


_PROFILES: dict[str, _Profile] = {
    "normal": _Profile(),
    "dry": _Profile(threshold=(0.30, 0.45), darkness=(110.0, 150.0), noise=6.0, extras=("dry",)),
    "wet": _Profile(threshold=(-0.60, -0.45), darkness=(225.0, 245.0), pre_blur=2.2, blur=1.2, extras=("wet",)),
    "worn": _Profile(darkness=(140.0, 180.0), noise=5.0, extras=("worn",)),
    "partial": _Profile(contact_scale=(0.50, 0.62), centre_shift=0.22),
    "smudged": _Profile(threshold=(-0.25, 0.0), blur=1.0, extras=("smudge",)),
}


def _check_quality(quality: str) -> _Profile:
    try:
        return _PROFILES[quality]
    except KeyError:
        raise ValueError(
            f"unknown quality profile {quality!r}; valid profiles: {', '.join(QUALITY_PROFILES)}"
        ) from None


def _distortion_maps(
    rng: np.random.Generator, shape: tuple[int, int], centre: tuple[float, float], scale: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Sampling maps (impression pixel -> master position) and the rotation used.

    Rigid part: rotation +-15 deg about the contact centre and translation.
    Elastic part (Cappelli-style): extra torsion and drift that grow with the
    distance from the contact centre, plus a small smooth random displacement.
    """
    h, w = shape
    xx, yy = _grid(shape)
    theta = math.radians(rng.uniform(-15.0, 15.0))
    tx, ty = np.clip(rng.normal(0.0, 10.0, 2), -25, 25)
    px, py = centre
    rx, ry = xx - px, yy - py
    r = np.sqrt(rx * rx + ry * ry) / (0.5 * min(h, w))
    ramp = np.clip(r - 0.35, 0.0, None) ** 2  # 0 in the rigid core, growing outside
    twist = theta + scale * math.radians(rng.uniform(-3.0, 3.0)) * ramp
    c, s = np.cos(twist), np.sin(twist)
    drift = scale * rng.uniform(-4.0, 4.0, 2)
    mx = px - tx + c * rx + s * ry + drift[0] * ramp
    my = py - ty - s * rx + c * ry + drift[1] * ramp
    mx += scale * 1.6 * _smooth_noise(rng, shape, 70.0)
    my += scale * 1.6 * _smooth_noise(rng, shape, 70.0)
    return mx.astype(np.float32), my.astype(np.float32), theta


def _contact_mask(
    rng: np.random.Generator, shape: tuple[int, int], centre: tuple[float, float], theta: float, size: float
) -> np.ndarray:
    """Soft elliptical contact area with an irregular rim, values in [0, 1]."""
    h, w = shape
    xx, yy = _grid(shape)
    a = 0.37 * w * size * rng.uniform(0.93, 1.07)
    b = 0.42 * h * size * rng.uniform(0.93, 1.07)
    c, s = math.cos(theta), math.sin(theta)
    rx, ry = xx - centre[0], yy - centre[1]
    u, v = (c * rx - s * ry) / a, (s * rx + c * ry) / b
    d = np.sqrt(u * u + v * v) + 0.035 * _smooth_noise(rng, shape, 50.0)
    return np.clip((1.0 - d) / 0.05, 0.0, 1.0)


def _apply_dry(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """Break ridges into fragments with patchy, faint contact."""
    shape = ink.shape
    blotch = _smooth_noise(rng, shape, 6.0) + 0.6 * _smooth_noise(rng, shape, 30.0)
    keep = np.clip((blotch + 0.5) / 0.6, 0.0, 1.0)
    return ink * keep


def _apply_wet(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """Dark blobs where moisture fills the valleys."""
    blobs = np.clip(_smooth_noise(rng, ink.shape, 25.0) - 0.6, 0.0, 1.0)
    return np.maximum(ink, np.clip(blobs * 2.5, 0.0, 0.85))


def _apply_worn(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """Callused, flattened low-contrast patches and white scars/creases across the ridges."""
    patch = np.clip(_smooth_noise(rng, ink.shape, 40.0) * 0.8 + 0.45, 0.0, 1.0)
    flat = cv2.GaussianBlur(ink, (0, 0), 2.5)
    grey = 0.45
    flat = grey + (flat - grey) * 0.3
    ink = ink * (1.0 - patch) + flat * patch
    return ink * (1.0 - _scars(rng, ink.shape))


def _scars(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Soft mask (1 = no contact) of random scars and a bundle of flexion creases."""
    h, w = shape
    canvas = np.zeros(shape, np.uint8)
    for _ in range(int(rng.integers(5, 10))):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        ang = rng.uniform(0, np.pi)
        half = rng.uniform(0.15, 0.45) * max(h, w)
        dx, dy = half * math.cos(ang), half * math.sin(ang)
        thickness = int(rng.integers(2, 7))
        cv2.line(canvas, (int(x0 - dx), int(y0 - dy)), (int(x0 + dx), int(y0 + dy)), 255, thickness, cv2.LINE_AA)
    y = rng.uniform(0.3, 0.8) * h
    for _ in range(int(rng.integers(3, 7))):  # roughly horizontal creases
        y += rng.uniform(6, 20)
        tilt = rng.uniform(-0.25, 0.25) * w
        cv2.line(canvas, (0, int(y - tilt / 2)), (w, int(y + tilt / 2)), 255, int(rng.integers(1, 4)), cv2.LINE_AA)
    return cv2.GaussianBlur(canvas.astype(np.float32) / 255.0, (0, 0), 1.0)


def _apply_smudge(rng: np.random.Generator, ink: np.ndarray) -> np.ndarray:
    """Directional motion blur plus a faint displaced smear copy."""
    length = int(rng.integers(9, 16))
    ang = rng.uniform(0, 180)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), ang, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    kernel /= kernel.sum()
    blurred = cv2.filter2D(ink, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    shift = np.float32([[1, 0, rng.uniform(-8, 8)], [0, 1, rng.uniform(-8, 8)]])
    smear = cv2.warpAffine(ink, shift, (ink.shape[1], ink.shape[0]))
    return np.maximum(blurred, 0.5 * smear)


_EXTRAS: dict[str, Callable[[np.random.Generator, np.ndarray], np.ndarray]] = {
    "dry": _apply_dry,
    "wet": _apply_wet,
    "worn": _apply_worn,
    "smudge": _apply_smudge,
}


def render_impression(master: FingerPattern, *, impression: int, quality: str = "normal", seed: int = 0) -> np.ndarray:
    """Render one sensor impression of ``master`` as a uint8 HxW grey image.

    500 dpi, white background, dark ridges (optical sensor look).  Deterministic
    in ``(master.subject, master.seed, impression, quality, seed)``; different
    impression numbers give different placements, distortion and pressure.
    Raises ValueError for an unknown ``quality``.
    """
    prof = _check_quality(quality)
    rng = _rng(f"{master.seed}:{master.subject}:impression={int(impression)}:{quality}:{seed}")
    shape = master.shape
    h, w = shape
    size = rng.uniform(*prof.contact_scale)
    shift = rng.uniform(-prof.centre_shift, prof.centre_shift, 2) * (w, h)
    centre = (w / 2 + float(shift[0]), h / 2 + float(shift[1]))
    mx, my, theta = _distortion_maps(rng, shape, centre, prof.distortion)
    ridges = cv2.remap(master.ridges, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)
    if prof.pre_blur > 0:
        ridges = cv2.GaussianBlur(ridges, (0, 0), prof.pre_blur)
    contact = _contact_mask(rng, shape, centre, theta, size)
    ink = _ink(rng, ridges, contact, prof)
    for name in prof.extras:
        ink = _EXTRAS[name](rng, ink)
    return _sensor(rng, ink * contact, prof)


def _ink(rng: np.random.Generator, ridges: np.ndarray, contact: np.ndarray, prof: _Profile) -> np.ndarray:
    """Ridge ink coverage in [0, 1]: thresholded ridges, thinner where pressure is low."""
    t0 = rng.uniform(*prof.threshold)
    pressure_var = 0.12 * _smooth_noise(rng, ridges.shape, 60.0)
    rim = 0.25 * (1.0 - contact)  # lighter touch near the rim
    t = t0 + pressure_var + rim
    return 0.5 * (1.0 + np.tanh((ridges - t) / prof.softness))


def _sensor(rng: np.random.Generator, ink: np.ndarray, prof: _Profile) -> np.ndarray:
    """Optical sensor: background shading, ridge darkness, blur and noise -> uint8."""
    shape = ink.shape
    dark = rng.uniform(*prof.darkness) * (1.0 + 0.08 * _smooth_noise(rng, shape, 80.0))
    background = 250.0 - 4.0 * np.abs(_smooth_noise(rng, shape, 120.0))
    img = background - dark * ink
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), prof.blur)
    img += prof.noise * rng.standard_normal(shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- #
# On-disk cache
# --------------------------------------------------------------------------- #
def save_master(master: FingerPattern, path: str | os.PathLike[str]) -> None:
    """Write ``master`` to a compressed .npz file (uint8 ridges + JSON metadata)."""
    q = np.clip(np.rint((master.ridges + 1.0) * 127.5), 0, 255).astype(np.uint8)
    meta = {
        "format": _FILE_FORMAT,
        "version": _FILE_VERSION,
        "subject": master.subject,
        "seed": master.seed,
        "pattern_class": master.pattern_class,
        "shape": list(q.shape),
        "sha256": hashlib.sha256(q.tobytes()).hexdigest(),
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, ridges=q, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8))
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())


def load_master(path: str | os.PathLike[str]) -> FingerPattern:
    """Read a master written by :func:`save_master`.

    Raises ValueError if the file is corrupt, truncated or not such a file.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if set(data.files) != {"ridges", "meta"}:
                raise ValueError("unexpected arrays in file")
            q = data["ridges"]
            meta = json.loads(data["meta"].tobytes().decode("utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ValueError(f"{os.fspath(path)!s}: not a synthetic finger master file ({exc})") from exc
    _verify(meta, q, path)
    return FingerPattern(
        subject=meta["subject"], seed=int(meta["seed"]), ridges=_dequantize(q), pattern_class=meta["pattern_class"]
    )


def _verify(meta: object, q: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Check the metadata and checksum of a loaded master file."""
    where = os.fspath(path)
    if not isinstance(meta, dict) or meta.get("format") != _FILE_FORMAT:
        raise ValueError(f"{where!s}: not a synthetic finger master file")
    if meta.get("version") != _FILE_VERSION:
        raise ValueError(f"{where!s}: unsupported master file version {meta.get('version')!r}")
    if q.dtype != np.uint8 or q.ndim != 2 or list(q.shape) != meta.get("shape"):
        raise ValueError(f"{where!s}: ridge array has the wrong type or shape")
    if hashlib.sha256(q.tobytes()).hexdigest() != meta.get("sha256"):
        raise ValueError(f"{where!s}: checksum mismatch (corrupt file)")
    if meta.get("pattern_class") not in PATTERN_CLASSES or not isinstance(meta.get("subject"), str):
        raise ValueError(f"{where!s}: invalid metadata")
    if not isinstance(meta.get("seed"), int):
        raise ValueError(f"{where!s}: invalid metadata")
