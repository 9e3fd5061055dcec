"""Face detection under hard capture conditions: the station's encoder with and without its fallback detectors
(matching/face.py) on tightly cropped, side-lit copies of a labelled face set.

Each photo is scaled to 480 px on its longest side; the HOG box of its face (found on the untouched photo) is cut
``inset`` of its size inside on every side (a crop tighter than the face box, as a camera framed on the face or an ID
photo cut to the face gives), scaled to ``height`` px, and lit from one side: the brightness falls from 100% on the
left to ``floor`` on the right along a logistic curve of steepness ``steep``. Per encoder: faces found, the pass that
found them, the distance of each found face to the encoding of its untouched photo (a wrong "face" would be far) and
the time to find the face and encode it.

``python -m station.bench.face --dataset DIR`` prints the JSON (``station bench accuracy --modality face`` gives the
accuracy figures on the untouched photos).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def tight_side_lit(image_rgb: np.ndarray, box: tuple[int, int, int, int], *, inset: float = 0.05, height: int = 200,
                   floor: float = 0.1, steep: float = 6.0) -> np.ndarray:
    """A tight crop of the face ``box`` (top, right, bottom, left) of ``image_rgb``, lit from the left."""
    import cv2

    top, right, bottom, left = box
    h, w = bottom - top, right - left
    crop = image_rgb[max(0, int(top + inset * h)):int(bottom - inset * h),
                     max(0, int(left + inset * w)):int(right - inset * w)]
    scale = height / crop.shape[0]
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    x = np.linspace(-1.0, 1.0, crop.shape[1])
    light = floor + (1.0 - floor) / (1.0 + np.exp(steep * x))
    return np.ascontiguousarray(np.clip(crop * light[None, :, None], 0, 255).astype(np.uint8))


def scaled(image_rgb: np.ndarray, longest: int = 480) -> np.ndarray:
    import cv2

    scale = longest / max(image_rgb.shape[:2])
    return np.ascontiguousarray(cv2.resize(image_rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def bench_tight_crops(dataset: str, *, progress: Callable[[str], None] | None = None, **transform: Any) -> dict:
    """Faces found in the tight side-lit copies of ``dataset`` (labelled photos) by the encoder with HOG only and
    with each fallback."""
    from matching import datasets
    from matching.face import DlibFaceEncoder

    say = progress or (lambda _msg: None)
    sample_set = datasets.labelled_faces(dataset)
    reference_encoder = DlibFaceEncoder(fallback="none")
    encoders = {f"fallback_{name}": DlibFaceEncoder(fallback=name) for name in ("none", "hog", "cnn")}
    probes, skipped = [], 0
    for k in range(len(sample_set)):
        image = scaled(sample_set.image(k))
        try:
            reference = reference_encoder.encode(image)
        except Exception:  # noqa: BLE001 - no face on the untouched photo: nothing to crop
            skipped += 1
            continue
        probes.append((reference.vector, tight_side_lit(image, reference.box, **transform)))
    say(f"{len(probes)} tight side-lit crops ({skipped} photos without a face skipped)")
    out: dict[str, Any] = {"dataset": sample_set.name, "crops": len(probes), "skipped": skipped,
                           "transform": {"inset": 0.05, "height": 200, "floor": 0.1, "steep": 6.0, **transform},
                           "encoders": {}}
    for name, encoder in encoders.items():
        found_by: dict[str, int] = {}
        failures: dict[str, int] = {}
        distances, detect_ms, total_ms = [], [], []
        for vector, crop in probes:
            t0 = time.perf_counter()
            try:
                encoding = encoder.encode(crop)
            except Exception as exc:  # noqa: BLE001 - counted by kind
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                elapsed = (time.perf_counter() - t0) * 1000
                detect_ms.append(elapsed)
                total_ms.append(elapsed)
                continue
            total_ms.append((time.perf_counter() - t0) * 1000)
            detect_ms.append(encoding.detect_ms)
            found_by[encoding.detector] = found_by.get(encoding.detector, 0) + 1
            distances.append(float(np.linalg.norm(encoding.vector - vector)))
        found = sum(found_by.values())
        out["encoders"][name] = {
            "found": found, "no_face": failures.get("FaceNotFound", 0),
            "no_face_rate": round(failures.get("FaceNotFound", 0) / len(probes), 4) if probes else None,
            "failures": failures, "found_by": dict(sorted(found_by.items())),
            "distance_to_own_photo": {"median": _percentile(distances, 50), "p95": _percentile(distances, 95),
                                      "max": round(max(distances), 4) if distances else None},
            "detect_ms": {"median": _percentile(detect_ms, 50), "p95": _percentile(detect_ms, 95)},
            "encode_ms": {"median": _percentile(total_ms, 50), "p95": _percentile(total_ms, 95)},
        }
        say(f"{name}: {found}/{len(probes)} found")
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m station.bench.face", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="labelled face photos (<identity>/<image> or labels.csv)")
    args = parser.parse_args(argv)
    print(json.dumps(bench_tight_crops(args.dataset, progress=lambda m: print(m, file=sys.stderr)), indent=1))


if __name__ == "__main__":
    main()
