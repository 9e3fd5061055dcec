"""Fingerprint templates and scores with NIST NBIS (mindtct minutiae, bozorth3 scores, NFIQ2 quality).

Templates are ISO/IEC 19794-2:2005 minutiae records. Scores are bozorth3's (higher = more similar); the decision
threshold is the caller's.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .errors import ExtractionFailed, MatcherUnavailable

TEMPLATE_FORMAT = "ISO19794-2:2005"


@dataclass(frozen=True)
class FingerprintTemplate:
    data: bytes  # ISO/IEC 19794-2:2005 record
    minutiae_count: int
    quality: int  # NFIQ2 0-100; 0 = could not be computed ("unknown")


class NbisFingerprintMatcher:
    """Extraction and comparison through nbis-py. The native extractor is created lazily, once per thread."""

    name = "bozorth3"

    def __init__(self, *, ppi: int = 500, compute_quality: bool = True) -> None:
        self._ppi = ppi
        self._compute_quality = compute_quality
        self._local = threading.local()

    def _nbis(self):
        nbis = getattr(self._local, "nbis", None)
        if nbis is None:
            try:
                import nbis
            except ImportError as exc:
                raise MatcherUnavailable("NIST NBIS (nbis-py) is not installed") from exc
            self._local.nbis = nbis
        return nbis

    def _extractor(self, with_quality: bool = False):
        """The native extractor (one per thread), with or without NFIQ2."""
        key = f"extractor_{with_quality}"
        extractor = getattr(self._local, key, None)
        if extractor is None:
            nbis = self._nbis()
            extractor = nbis.new_nbis_extractor(nbis.NbisExtractorSettings(
                min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=with_quality,
                ppi=float(self._ppi)))
            setattr(self._local, key, extractor)
        return extractor

    def extract(self, image: np.ndarray) -> FingerprintTemplate:
        """Minutiae template and NFIQ2 quality of a grey 8-bit fingerprint image at the matcher's resolution.

        NFIQ2 fails on some poor images (NbisError); the template is then extracted without it and the quality
        reported as 0, "unknown"."""
        import cv2

        if image.dtype != np.uint8 or image.ndim != 2 or min(image.shape) < 64:
            raise ExtractionFailed("a fingerprint image must be 8-bit grey and at least 64x64 pixels")
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise ExtractionFailed("could not encode the fingerprint image")
        nbis, quality, minutiae = self._nbis(), 0, None
        if self._compute_quality:
            try:
                minutiae = self._extractor(True).extract_minutiae(png.tobytes())
                quality = int(minutiae.quality().score or 0)
            except nbis.NbisError:
                minutiae = None
        try:
            if minutiae is None:
                minutiae = self._extractor(False).extract_minutiae(png.tobytes())
            data = minutiae.to_iso_19794_2_2005()
        except nbis.NbisError as exc:
            raise ExtractionFailed(f"minutiae extraction failed: {exc!r}") from None
        return FingerprintTemplate(data=bytes(data), minutiae_count=len(minutiae.get()), quality=quality)

    def _load(self, template: bytes):
        try:
            return self._extractor().load_iso_19794_2_2005(template)
        except self._nbis().NbisError as exc:
            raise ExtractionFailed(f"not a valid ISO 19794-2 template: {exc!r}") from None

    def compare(self, probe: bytes, reference: bytes) -> float:
        """bozorth3 score between two ISO templates."""
        return float(self._load(probe).compare(self._load(reference)))

    def compare_many(self, probe: bytes, references: list[bytes]) -> np.ndarray:
        loaded = self._load(probe)
        return np.array([loaded.compare(self._load(ref)) for ref in references], dtype=np.float64)
