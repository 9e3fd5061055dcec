"""A scripted registration day (``station bench registration``, JSON): N people register through the station's
registration services on simulated devices; some of them register a second time under another CNIC, presenting
other fingers in another order and another face photo. Prints how many second registrations reached the adjudication
queue naming the first CNIC, and how many honest registrations were sent there.

Fingers come from the project's synthetic generator (one simulated person = ten fingers). Faces come from a labelled
photo folder (default: ../shared/datasets/deepface_faces, 13 people): the duplicates get two different photos of one
person, a few honest registrants one photo each; everybody else has no photo (the project ships no photos of people)
and registers with a face exception, so their duplicate search is by fingerprints only.
"""
from __future__ import annotations

import base64
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from matching.datasets import labelled_photo_paths

from station.bench.flow import DEFAULT_FACES, _percentiles
from station.config import FINGER_POSITIONS, load_config
from station.security.users import Principal

QUALITIES = ["normal"] * 17 + ["dry", "wet", "smudged"]  # 15% of presentations in a poorer condition


@dataclass
class Person:
    key: str
    gender: str
    photos: list[Path] = field(default_factory=list)
    cnics: list[str] = field(default_factory=list)


def _cnic(rng: random.Random, gender: str, used: set[str]) -> str:
    while True:
        last = rng.choice("13579" if gender == "male" else "02468")
        cnic = f"82{rng.randrange(100, 999)}-{rng.randrange(10**6, 10**7):07d}-{last}"
        if cnic not in used:
            used.add(cnic)
            return cnic


def _demographics(rng: random.Random, person: Person) -> dict:
    return {"name_en": f"Registrant {person.key}", "relation": "father", "relative_name_en": f"Father of {person.key}",
            "gender": person.gender, "date_of_birth": f"{rng.randrange(1950, 2005)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
            "address_en": f"House {rng.randrange(1, 400)}, Muzaffarabad"}


def _no_face_image(seed: int) -> str:
    """A picture with no face in it (the hand or the empty booth, for exception photos)."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur((rng.random((240, 320, 3)) * 255).astype(np.uint8), (9, 9), 0)
    return base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()


def scripted_registration(station, *, people: int = 200, duplicates: int = 10, faces_dir: str | None = None,
                          seed: int = 11, progress=None) -> dict:
    """Run the registrations through ``station.registration``; the station must hold a roll (polling stations).
    ``progress(stage, done, total)`` hears each registration."""
    report = progress or (lambda stage, done, total: None)
    rng = random.Random(seed)
    service, settings = station.registration, station.registration.settings
    officer, registrar = Principal("bench-officer", "registration_officer"), Principal("bench-registrar", "registrar")
    identities = [paths for paths in (labelled_photo_paths(faces_dir).values() if faces_dir else []) if len(paths) >= 2]
    rng.shuffle(identities)
    crowd = [Person(f"p{i:04d}", rng.choice(["male", "female"])) for i in range(people)]
    twice = rng.sample(crowd, min(duplicates, people))
    for person in twice + [p for p in crowd if p not in twice]:  # duplicates get photos first
        if identities:
            person.photos = identities.pop()
    order = [(p, 0) for p in crowd]
    for person in twice:  # the second registration comes some time after the first
        first = order.index((person, 0))
        order.insert(rng.randrange(first + 1, len(order) + 1), (person, 1))
    used: set[str] = set()
    blank = _no_face_image(seed)
    capture_ms, submit_ms, outcomes = [], [], []
    for done, (person, visit) in enumerate(order, 1):
        report("registrations", done, len(order))
        cnic = _cnic(rng, person.gender, used)
        person.cnics.append(cnic)
        view = service.start(officer, cnic, _demographics(rng, person))
        fingers = list(settings.fingers)
        if visit:  # other fingers, in another order: two of the enrolled ones (swapped), two never enrolled
            others = [f for f in FINGER_POSITIONS if f not in fingers]
            fingers = rng.sample(fingers, 2) + rng.sample(others, 2)
            rng.shuffle(fingers)
        for label, physical in zip(settings.fingers, fingers):
            for _ in range(settings.finger_attempts):
                station.steering.present_person_finger(officer, person.key, physical, rng.choice(QUALITIES))
                t0 = time.perf_counter()
                view = service.capture_finger(officer, view.id, label)
                capture_ms.append((time.perf_counter() - t0) * 1000)
                if next(c for c in view.captures if c["position"] == label)["status"] in ("accepted", "below_gate"):
                    break
            else:
                if label in view.missing:
                    station.steering.present_face(officer, image_base64=blank)
                    view = service.record_exception(officer, view.id, label, "unusable_prints")
        if settings.face_required:
            if person.photos:
                photo = person.photos[visit % len(person.photos)]
                station.steering.present_face(officer, image_base64=base64.b64encode(photo.read_bytes()).decode())
                for _ in range(settings.face_attempts):
                    view = service.capture_face(officer, view.id)
                    if "face" not in view.missing:
                        break
            if "face" in view.missing:
                station.steering.present_face(officer, image_base64=blank)
                view = service.record_exception(officer, view.id, "face", "other")
        t0 = time.perf_counter()
        view = service.submit(officer, view.id)
        submit_ms.append((time.perf_counter() - t0) * 1000)
        if view.state == "ADJUDICATION":  # who the candidates are: the registrar's view
            view = service.get(registrar, view.id)
        truth = person.cnics[0] if visit else None
        found = [c["cnic"] for c in view.candidates]
        via = sorted({e["modality"] for c in view.candidates if c["cnic"] == truth for e in c["evidence"]})
        outcomes.append({"person": person.key, "visit": visit, "state": view.state, "candidates": found,
                         "evidence": [e for c in view.candidates for e in c["evidence"]],
                         "true_duplicate_found": truth in found if truth else None, "found_by": via,
                         "has_face": bool(person.photos)})
        if view.state == "ADJUDICATION":  # the registrar decides from ground truth, as a careful registrar would
            decision = "duplicate" if truth in found else "not_duplicate"
            service.decide(registrar, view.id, decision, f"scripted: compared with {', '.join(found)}")
    seconds = [o for o in outcomes if o["visit"]]
    honest = [o for o in outcomes if not o["visit"]]
    false_alarms = [o for o in honest if o["state"] == "ADJUDICATION"]
    return {
        "people": people, "registrations": len(outcomes), "duplicates_planted": len(seconds),
        "duplicates_detected": sum(1 for o in seconds if o["true_duplicate_found"]),
        "duplicates_detected_by": {m: sum(1 for o in seconds if m in o["found_by"]) for m in ("fingerprint", "face")},
        "duplicates_with_face_photos": sum(1 for o in seconds if o["has_face"]),
        "honest_registrations": len(honest), "honest_sent_to_adjudication": len(false_alarms),
        "false_alarm_rate": round(len(false_alarms) / max(1, len(honest)), 4),
        "honest_with_face_photo": sum(1 for o in honest if o["has_face"]),
        "thresholds": {"fingerprint_matcher": station.config.fingerprint.matcher,
                       "fingerprint_score_per_search": sorted({e["threshold"] for o in outcomes for e in o["evidence"]
                                                               if e.get("modality") == "fingerprint"}),
                       "face_distance_per_search": sorted({e["threshold"] for o in outcomes for e in o["evidence"]
                                                           if e.get("modality") == "face"}),
                       "shortlist": station.config.enrollment.shortlist},
        "finger_capture": _percentiles(capture_ms), "submit_search": _percentiles(submit_ms),
        "duplicate_best_fingerprint_scores": sorted(max((e.get("score", 0) for e in o["evidence"]), default=0) for o in seconds),
        "missed": [o for o in seconds if not o["true_duplicate_found"]], "false_alarms": false_alarms,
    }


def bench_registration(people: int = 200, duplicates: int = 10, roll_voters: int = 100, seed: int = 11,
                       faces: str | None = None, progress=None) -> dict:
    """Duplicate detection at registration: planted second registrations caught, honest ones sent to adjudication."""
    from station.runtime import Station

    faces_dir = faces or (str(DEFAULT_FACES) if DEFAULT_FACES.is_dir() else None)
    with tempfile.TemporaryDirectory(prefix="station-bench-") as home:
        station = Station(load_config("test", home=home, environ={}))
        station.init()
        station.synthesize_roll(roll_voters, seed, progress=progress)
        started = time.perf_counter()
        result = scripted_registration(station, people=people, duplicates=duplicates, faces_dir=faces_dir, seed=seed,
                                       progress=progress)
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["roll_voters"] = roll_voters
        station.close()
    return result
