"""Biometric references for a synthetic roll: fingerprint templates from the simulated scanner's generator (in
worker processes), and face encodings from a folder of labelled photos when one is given."""
from __future__ import annotations

import base64
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

from drivers.fingerprint.simulated import MasterCache
from drivers.fingerprint.synthetic import render_impression
from matching.face import ENCODING_FORMAT, DlibFaceEncoder
from matching.engine import make_engine
from drivers.camera.images import decode_rgb
from matching.datasets import labelled_photo_paths
from matching.errors import MatchingError

from station.errors import InvalidInput
from station.roll.store import EnrolledTemplate
from station.security.files import write_atomically
from station.simulation.roll import SynthRoll, finger_subject

log = logging.getLogger(__name__)
_worker: dict = {}


def _init_worker(cache_dir: str, ppi: int, engine: str) -> None:
    _worker["cache"] = MasterCache(cache_dir, capacity=4)
    _worker["matcher"] = make_engine(engine, ppi=ppi)


def _enrol_finger(job: tuple[str, str, str]) -> EnrolledTemplate:
    cnic, finger, subject = job
    master = _worker["cache"].get(subject)  # generated and written to the cache on first use
    matcher = _worker["matcher"]
    image = render_impression(master, impression=0, quality="normal")
    template = matcher.extract(image)
    return EnrolledTemplate(cnic, "fingerprint", finger, matcher.template_format, matcher.quality(image),
                            template.data)


def fingerprint_references(roll: SynthRoll, fingers: tuple[str, ...], cache_dir: Path, *, engine: str,
                           ppi: int = 500, workers: int | None = None, templates_file: Path | None = None,
                           progress: Callable[[str, int, int], None] | None = None) -> list[EnrolledTemplate]:
    """Each voter's fingers enrolled by the fingerprint engine ``engine`` (its template format).

    ``templates_file``: a JSON file of enrolled fingers, read when present; the fingers of this roll it lacks are
    enrolled and added to it, under an exclusive lock, so that parallel test workers enrol each finger once. One file
    can serve every roll of a seed: a finger's template depends only on its subject (seed, CNIC, finger), and a roll of
    n voters holds the first n people of any larger roll of its seed. The caller names it so that it changes with
    anything that changes the templates (the test suite hashes the seed, the generator's and the engine's code and
    versions). ``progress(stage, done, total)``: called as fingers are enrolled."""
    jobs = [(v.cnic, f, finger_subject(roll.seed, v.cnic, f)) for v in roll.voters for f in fingers]
    cache_dir.mkdir(parents=True, exist_ok=True)  # the simulated scanner's masters folder, read from the file or not
    if templates_file is None:
        return _enrol_all(jobs, cache_dir, engine=engine, ppi=ppi, workers=workers, progress=progress)
    import fcntl

    templates_file.parent.mkdir(parents=True, exist_ok=True)
    with open(templates_file.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        held: dict[tuple[str, str], EnrolledTemplate] = {}
        if templates_file.is_file():
            for c, f, fmt, q, d in json.loads(templates_file.read_text()):
                held[c, f] = EnrolledTemplate(c, "fingerprint", f, fmt, q, base64.b64decode(d))
        missing = [job for job in jobs if (job[0], job[1]) not in held]
        if missing:
            for t in _enrol_all(missing, cache_dir, engine=engine, ppi=ppi, workers=workers, progress=progress):
                held[t.cnic, t.position] = t
            rows = [[t.cnic, t.position, t.format, t.quality, base64.b64encode(t.data).decode()] for t in held.values()]
            write_atomically(templates_file, json.dumps(rows).encode())
        return [held[cnic, finger] for cnic, finger, _ in jobs]


def _enrol_all(jobs: list[tuple[str, str, str]], cache_dir: Path, *, engine: str, ppi: int, workers: int | None,
               progress: Callable[[str, int, int], None] | None = None) -> list[EnrolledTemplate]:
    """The templates of ``jobs`` (CNIC, finger, the simulated scanner's subject), in their order."""
    workers = min(workers or min(os.cpu_count() or 1, 4), max(1, len(jobs) // 16))  # a chunk of 16 per process
    report = progress or (lambda stage, done, total: None)

    def counted(results) -> list[EnrolledTemplate]:
        out = []
        for result in results:
            out.append(result)
            report("fingers", len(out), len(jobs))
        return out

    if workers <= 1:
        _init_worker(str(cache_dir), ppi, engine)
        return counted(_enrol_finger(j) for j in jobs)
    # spawned, not forked: the caller may run threads (the engine's mindtct thread, ONNX Runtime's pool, a server's
    # workers), and a forked child inherits their locks in whatever state they were (a child hung in make_engine)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(str(cache_dir), ppi, engine)) as pool:
        return counted(pool.map(_enrol_finger, jobs, chunksize=16))


def face_references(roll: SynthRoll, photos_dir: str | Path, polling_station: str,
                    encoder: DlibFaceEncoder) -> tuple[list[EnrolledTemplate], dict[str, dict]]:
    """Give each labelled identity with at least two photos to one voter of this station: the first photo is
    enrolled, the others are what the simulated camera shows later. Returns references and the simulation map."""
    try:
        photos_by_identity = labelled_photo_paths(photos_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise InvalidInput(str(exc)) from None
    identities = {k: v for k, v in photos_by_identity.items() if len(v) >= 2}
    voters = [v for v in roll.voters if v.polling_station == polling_station]
    references, sim_map = [], {}
    for voter, (identity, photos) in zip(voters, identities.items()):
        try:
            encoding = encoder.encode(decode_rgb(photos[0].read_bytes()))
        except (MatchingError, ValueError) as exc:
            log.warning("face set: %s unusable for enrolment (%s)", photos[0].name, exc)
            continue
        references.append(EnrolledTemplate(voter.cnic, "face", "face", ENCODING_FORMAT, encoding.face_px,
                                           encoding.to_bytes()))
        sim_map[voter.cnic] = {"identity": identity, "probes": [str(p.resolve()) for p in photos[1:]]}
    return references, sim_map
