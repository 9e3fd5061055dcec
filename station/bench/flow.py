"""``station bench flow``: machine time per verified voter through the station's services on simulated devices (no
HTTP, no network): fingerprint path and face path. The command line is station/cli/bench.py."""
from __future__ import annotations

import tempfile
import time

import numpy as np

from station.bench import SHARED_DATASETS
from station.config import load_config
from station.security.users import Principal

DEFAULT_FACES = SHARED_DATASETS / "deepface_faces"


def _percentiles(values: list[float]) -> dict | None:
    if not values:
        return None
    arr = np.asarray(values)
    return {"n": len(values), "p50_ms": round(float(np.percentile(arr, 50)), 1),
            "p95_ms": round(float(np.percentile(arr, 95)), 1), "max_ms": round(float(arr.max()), 1)}


def bench_flow(voters: int = 200, seed: int = 11, faces: str | None = None, progress=None) -> dict:
    """Time per verified voter: identify, capture, match, decide, log and issue the ballot (``faces``: labelled photos
    for the face path; default DEFAULT_FACES when it exists). ``progress(stage, done, total)``: the roll's fingers,
    then the voters."""
    report = progress or (lambda stage, done, total: None)
    from station.runtime import Station

    faces_dir = faces or (str(DEFAULT_FACES) if DEFAULT_FACES.is_dir() else None)
    with tempfile.TemporaryDirectory(prefix="station-bench-") as home:
        station = Station(load_config("test", home=home, environ={}))
        station.init()
        started = time.perf_counter()
        station.synthesize_roll(voters, seed, faces_dir=faces_dir, progress=progress)
        setup_s = time.perf_counter() - started
        started = time.perf_counter()
        station.warm_up().join()  # as `station serve` does at start: the models load before the first voter
        warm_up_s = time.perf_counter() - started
        officer = Principal("bench", "polling_officer")
        here = station.roll.list_voters(polling_station=station.config.station.polling_station)
        # the face path: the voters with a photo on the roll, each once (a voter's verification is not opened
        # again: identifying them again would continue it), so the fingerprint path takes the others
        face_times = []
        for voter in (v for v in here if v.has_face):
            view = station.polling.start_verification(officer, voter.cnic)
            impostor = next(v for v in here if v.cnic != voter.cnic)
            for finger in voter.fingers:
                station.steering.present_fingerprint(officer, impostor.cnic, finger)
            while view.next_step == "fingerprint":
                view = station.polling.capture_fingerprint(officer, view.id)
            station.steering.present_face(officer, voter.cnic)
            t0 = time.perf_counter()
            while view.next_step == "face":
                view = station.polling.capture_face(officer, view.id)
            if view.state == "VERIFIED":
                face_times.append((time.perf_counter() - t0) * 1000)
        fp_times, fp_attempts, not_verified = [], [], 0
        fingerprint_voters = [v for v in here if not v.has_face]
        for done, voter in enumerate(fingerprint_voters, 1):
            report("voters", done, len(fingerprint_voters))
            station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
            t0 = time.perf_counter()
            view = station.polling.start_verification(officer, voter.cnic)
            attempts = 0
            while view.state == "IDENTIFIED" and view.next_step == "fingerprint":
                if view.next_finger != voter.fingers[0] and attempts % station.config.fingerprint.attempts_per_finger == 0:
                    station.steering.present_fingerprint(officer, voter.cnic, view.next_finger)
                view = station.polling.capture_fingerprint(officer, view.id)
                attempts += 1
            if view.state == "VERIFIED":
                station.polling.issue_ballot(officer, view.id)
                fp_times.append((time.perf_counter() - t0) * 1000)
                fp_attempts.append(attempts)
            else:
                not_verified += 1
        station.close()
    fp = _percentiles(fp_times)
    result = {
        "voters_on_roll": voters, "voters_at_station": len(here), "setup_s": round(setup_s, 1),
        "warm_up_s": round(warm_up_s, 1),
        "fingerprint": fp and {**fp, "verified": len(fp_times), "not_verified": not_verified,
                               "mean_attempts": round(float(np.mean(fp_attempts)), 2) if fp_attempts else None},
        "face": _percentiles(face_times),
        "faces_dir": faces_dir,
        "notes": "fingerprint: identify + captures until verified + ballot, per voter without a photo on the roll; "
                 "face: per voter with one, face captures until verified after the fingerprint attempts failed (the "
                 "time of the face step alone)",
    }
    return result
