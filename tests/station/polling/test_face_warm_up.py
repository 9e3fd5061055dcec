"""The station loads its face models at start, in the background (``Station.warm_up``), beside the fingerprint
engine: the first voter who needs the face fallback does not wait the two seconds the models take to load."""
from __future__ import annotations

from tests.support.stations import build_station


def test_warm_up_loads_the_face_encoder_and_the_landmark_models(tmp_path):
    station = build_station(tmp_path, f"sqlite:///{tmp_path / 'station.db'}")
    station.init()
    tools = station.face_tools
    assert tools.encoder._fr is None and tools.landmarker._models is None  # a new station has loaded neither
    station.warm_up().join(timeout=300)
    assert tools.encoder._fr is not None, "face_recognition (the encoder's models) not loaded at start"
    assert tools.landmarker._models is not None, "the 68-point landmark model not loaded at start"
    assert tools.encoder.detector._models is not None  # HOG and the CNN fallback detector
    station.close()
