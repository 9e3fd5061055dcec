"""Benchmark sets and their comparison protocols (pure: file reading with OpenCV, numpy out).

A :class:`SampleSet` is a list of samples (subject, impression number, a way to load the image) with the pairs a
verification benchmark scores. Images are loaded one at a time, when asked for, so that a benchmark holds templates
rather than images in memory.

Protocols
- Fingerprints, FVC (Maio et al. 2002): ``genuine`` = every pair of impressions of the same finger;
  ``impostor_first`` = the first impression of each finger against the first impression of every other finger
  (FVC's impostor set, 45 pairs for 10 fingers); ``impostor_all`` = every pair of samples of different fingers
  (2,880 pairs for 10 x 8), needed to resolve an FMR of 0.1%.
- Faces (labelled photos): ``genuine`` = every pair of photos of the same identity; ``impostor_all`` = every pair of
  photos of different identities; ``impostor_first`` = the first photo of each identity against the others' first.

Pairs are ``(n, 2)`` int32 arrays of sample indexes with ``i < j``, every unordered pair once.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from matching.errors import DatasetError, UnreadableImage

# Every file format OpenCV's imread decodes (its documentation's list), written once: photos and prints are read
# from any of them.
IMAGE_SUFFIXES = (".bmp", ".dib", ".jpeg", ".jpg", ".jpe", ".jp2", ".png", ".webp", ".avif", ".pbm", ".pgm", ".ppm",
                  ".pxm", ".pnm", ".pfm", ".sr", ".ras", ".tiff", ".tif", ".exr", ".hdr", ".pic")
FINGERPRINT_SUFFIXES = (*IMAGE_SUFFIXES, ".wsq")
FACE_SUFFIXES = IMAGE_SUFFIXES
_FVC_NAME = re.compile(r"^(?P<finger>[^_]+)_(?P<impression>\d+)$")

__all__ = ["Sample", "SampleSet", "fvc_folder", "labelled_faces", "synthetic_fingerprints", "from_arrays",
           "genuine_pairs", "impostor_pairs_all", "impostor_pairs_first"]


@dataclass(frozen=True)
class Sample:
    subject: str
    impression: int  # order of the sample within its subject, from 1
    name: str  # file name or a generated label, for reports


@dataclass(frozen=True)
class SampleSet:
    """Samples of one benchmark set and how to load each one's image."""

    name: str
    modality: str  # "fingerprint" | "face"
    samples: tuple[Sample, ...]
    _load: Callable[[int], np.ndarray] = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.samples)

    def image(self, index: int) -> np.ndarray:
        """The image of sample ``index``: uint8 grey (fingerprints) or uint8 RGB (faces)."""
        return self._load(index)

    @property
    def subjects(self) -> np.ndarray:
        """Integer subject id per sample (order of first appearance)."""
        ids: dict[str, int] = {}
        return np.array([ids.setdefault(s.subject, len(ids)) for s in self.samples], dtype=np.int32)

    @property
    def first_of_subject(self) -> np.ndarray:
        """Boolean mask: the sample is its subject's first (lowest impression number)."""
        first: dict[str, int] = {}
        for k, s in enumerate(self.samples):
            if s.subject not in first or s.impression < self.samples[first[s.subject]].impression:
                first[s.subject] = k
        mask = np.zeros(len(self.samples), dtype=bool)
        mask[list(first.values())] = True
        return mask

    def genuine_pairs(self) -> np.ndarray:
        return genuine_pairs(self.subjects)

    def impostor_pairs_all(self) -> np.ndarray:
        return impostor_pairs_all(self.subjects)

    def impostor_pairs_first(self) -> np.ndarray:
        return impostor_pairs_first(self.subjects, self.first_of_subject)


def _upper_pairs(mask: np.ndarray) -> np.ndarray:
    i, j = np.nonzero(np.triu(mask, k=1))
    return np.stack([i, j], axis=1).astype(np.int32)


def genuine_pairs(subjects: Sequence[int] | np.ndarray) -> np.ndarray:
    """All pairs of samples of the same subject."""
    s = np.asarray(subjects)
    return _upper_pairs(s[:, None] == s[None, :])


def impostor_pairs_all(subjects: Sequence[int] | np.ndarray) -> np.ndarray:
    """All pairs of samples of different subjects."""
    s = np.asarray(subjects)
    return _upper_pairs(s[:, None] != s[None, :])


def impostor_pairs_first(subjects: Sequence[int] | np.ndarray, first: np.ndarray) -> np.ndarray:
    """First sample of each subject against the first sample of every other subject (FVC impostors)."""
    s = np.asarray(subjects)
    f = np.asarray(first, dtype=bool)
    return _upper_pairs((s[:, None] != s[None, :]) & f[:, None] & f[None, :])


def _read_grey(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise UnreadableImage(path)
    return image


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableImage(path)
    return np.ascontiguousarray(image[:, :, ::-1])


def fvc_folder(folder: str | Path) -> SampleSet:
    """An FVC-style folder: ``<finger>_<impression>.<ext>`` grey fingerprint images (FVC2000-2004 B sets)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    found = []
    for path in root.iterdir():
        match = _FVC_NAME.match(path.stem)
        if path.suffix.lower() in FINGERPRINT_SUFFIXES and match:
            found.append((match["finger"], int(match["impression"]), path))
    if not found:
        raise DatasetError(f"{root}: no <finger>_<impression> fingerprint images")

    def finger_key(f: str):
        return (0, int(f), f) if f.isdigit() else (1, 0, f)

    found.sort(key=lambda t: (finger_key(t[0]), t[1]))
    paths = [p for _, _, p in found]
    samples = tuple(Sample(subject=f, impression=i, name=p.name) for f, i, p in found)
    return SampleSet(name=root.name, modality="fingerprint", samples=samples, _load=lambda k: _read_grey(paths[k]))


def labelled_photo_paths(folder: str | Path) -> dict[str, list[Path]]:
    """Identity -> photo paths (in a stable order) of a labelled folder: ``labels.csv`` (``file,identity``) when
    present, else ``<identity>/<image>`` folders. ValueError when there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    by_identity: dict[str, list[Path]] = {}
    labels = root / "labels.csv"
    if labels.is_file():
        with labels.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if "file" not in row or "identity" not in row:
                    raise DatasetError(f"{labels}: needs the columns file,identity")
                path = root / row["file"]
                if path.suffix.lower() in FACE_SUFFIXES and path.is_file():
                    by_identity.setdefault(row["identity"], []).append(path)
    else:
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            images = [p for p in sub.iterdir() if p.suffix.lower() in FACE_SUFFIXES]
            if images:
                by_identity[sub.name] = images
    if not by_identity:
        raise DatasetError(f"{root}: no labelled photos (expected <identity>/<image> folders or labels.csv, images "
                           f"in a format OpenCV reads: {' '.join(IMAGE_SUFFIXES)})")
    return {k: sorted(v, key=lambda p: (len(p.name), p.name)) for k, v in sorted(by_identity.items())}


def labelled_faces(folder: str | Path) -> SampleSet:
    """Labelled face photos: ``labels.csv`` (``file,identity``) when present, else ``<identity>/<image>`` folders."""
    root = Path(folder)
    by_identity = labelled_photo_paths(root)
    samples, paths = [], []
    for identity, photos in by_identity.items():
        for n, path in enumerate(photos, start=1):
            samples.append(Sample(subject=identity, impression=n, name=path.name))
            paths.append(path)
    return SampleSet(name=root.name, modality="face", samples=tuple(samples), _load=lambda k: _read_rgb(paths[k]))


SYNTHETIC_MIN = 2  # fingers and impressions of a generated set: a genuine pair needs 2 impressions, an impostor 2 fingers
SYNTHETIC_TOO_SMALL = f"a synthetic set needs at least {SYNTHETIC_MIN} fingers and {SYNTHETIC_MIN} impressions"
SYNTHETIC_MAX_FINGERS, SYNTHETIC_MAX_IMPRESSIONS = 10_000, 32  # what one run's pairs and templates can hold
SYNTHETIC_TOO_LARGE = (f"a synthetic set takes at most {SYNTHETIC_MAX_FINGERS} fingers and "
                       f"{SYNTHETIC_MAX_IMPRESSIONS} impressions")


def synthetic_fingerprints(n_fingers: int, n_impressions: int, render: Callable[[int, int], np.ndarray], *,
                           name: str = "synthetic") -> SampleSet:
    """A generated set: ``render(finger, impression)`` (0-based) returns a uint8 grey image. The caller supplies the
    generator (matching does not import drivers); images are rendered when loaded, so memory stays bounded."""
    if n_fingers < SYNTHETIC_MIN or n_impressions < SYNTHETIC_MIN:
        raise ValueError(SYNTHETIC_TOO_SMALL)
    samples = tuple(Sample(subject=f"{f + 1:04d}", impression=i + 1, name=f"{f + 1:04d}_{i + 1}")
                    for f in range(n_fingers) for i in range(n_impressions))

    def load(k: int) -> np.ndarray:
        image = np.asarray(render(k // n_impressions, k % n_impressions))
        if image.dtype != np.uint8 or image.ndim != 2:
            raise ValueError("render() must return a uint8 grey image")
        return image

    return SampleSet(name=name, modality="fingerprint", samples=samples, _load=load)


def from_arrays(images: Sequence[Sequence[np.ndarray]], *, modality: str = "fingerprint",
                name: str = "arrays") -> SampleSet:
    """A set from in-memory images, ``images[subject][impression]``."""
    flat, samples = [], []
    for s, group in enumerate(images):
        for i, image in enumerate(group):
            flat.append(image)
            samples.append(Sample(subject=f"{s + 1:04d}", impression=i + 1, name=f"{s + 1:04d}_{i + 1}"))
    return SampleSet(name=name, modality=modality, samples=tuple(samples), _load=lambda k: flat[k])
