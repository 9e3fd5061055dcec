"""``station bench roll-scale``: a roll package of N voters (two fingerprints and a face each) built at a commission,
imported into a fresh station, hashed, and looked up. Prints JSON.

Synthesising 2N fingerprints is too slow for N = 100,000 (about half a second each), so the bench makes a few
hundred real templates with the project's own generator (``station.synth_biometrics``, the same path as
``station roll synth``) and derives every voter's templates from them by perturbing the minutiae (position +-2 px,
angle +-1 unit, about 5% dropped) of the ISO 19794-2 record; face references are random 128-float unit vectors.
Sizes and formats are those of the real roll, which is what import and lookup speed depend on.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from station.config import load_config

FINGERS = ("right_thumb", "left_thumb")
TEMPLATES_NOTE = ("fingerprints: {base} real ISO 19794-2 templates from the project's synthetic generator "
                  "(station.synth_biometrics), each voter's two derived by perturbing minutiae (+-2 px, +-1 angle "
                  "unit, ~5% dropped); faces: random unit 128-float32 vectors")


def bench_roll(voters: int, seed: int, polling_station: str = "PS-001"):
    """A SynthRoll of ``voters`` voters, all in one polling station (chunks of the synthetic roll builder)."""
    from station.simulation.roll import SynthRoll, SynthStation, build_roll

    out, seen, chunk = [], set(), 0
    first = None
    while len(out) < voters:
        part = build_roll(1000, seed * 100_000 + chunk, polling_station)
        first = first or part
        for v in part.voters:
            if v.cnic not in seen and len(out) < voters:
                seen.add(v.cnic)
                out.append(v)
        chunk += 1
    booths = max(1, math.ceil(voters / 300))
    out = [dataclasses.replace(v, polling_station=polling_station, serial_number=i + 1,
                               booth=1 + i * booths // voters) for i, v in enumerate(out)]
    station = SynthStation(polling_station, first.stations[0].name_en, first.stations[0].name_ur, "combined", booths)
    return SynthRoll(seed=seed, constituency_code=first.constituency_code, constituency_en=first.constituency_en,
                     constituency_ur=first.constituency_ur, district=first.district, stations=(station,),
                     voters=tuple(out))


def make_base_templates(count: int, seed: int, cache_dir: Path, workers: int | None) -> list[bytes]:
    """``count`` real fingerprint templates from the synthetic generator: ISO 19794-2 exchange records (mindtct), which
    ``perturb`` varies and every engine reads."""
    from station.simulation import biometrics as synth_biometrics
    from station.simulation.roll import build_roll

    mini = build_roll(max(1, math.ceil(count / len(FINGERS))), seed + 7)
    return [t.data for t in synth_biometrics.fingerprint_references(mini, FINGERS, cache_dir, engine="bozorth3",
                                                                            workers=workers)][:count]


def perturb(template: bytes, rng: np.random.Generator) -> bytes:
    """A variant of an ISO 19794-2 record as nbis writes it (matching/iso19794.py ``NBIS``): positions +-2 px, angles
    +-1 unit, about 5% of minutiae dropped (at least 12 kept)."""
    from matching import iso19794

    m = iso19794.read_minutiae(template, iso19794.NBIS).minutiae
    keep = rng.random(len(m)) >= 0.05
    if keep.sum() < min(12, len(m)):
        keep[:] = True
    m = m[keep]
    top, y = m[:, iso19794.Y] >> 14, m[:, iso19794.Y] & 0x3FFF  # the reserved bits are kept as they were
    m[:, iso19794.X] = np.clip(m[:, iso19794.X] + rng.integers(-2, 3, len(m)), 0, 0x3FFF)
    m[:, iso19794.Y] = (top << 14) | np.clip(y + rng.integers(-2, 3, len(m)), 0, 0x3FFF)
    m[:, iso19794.ANGLE] = (m[:, iso19794.ANGLE] + rng.integers(-1, 2, len(m))) % 256
    return iso19794.write_nbis(m, like=template)


def bench_references(roll, bases: list[bytes], seed: int):
    from matching.face import ENCODING_FORMAT
    from matching.fingerprint import TEMPLATE_FORMAT

    from station.roll.store import EnrolledTemplate

    rng = np.random.default_rng(seed)
    faces = rng.standard_normal((len(roll.voters), 128)).astype(np.float32)
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    out = []
    for i, v in enumerate(roll.voters):
        for j, finger in enumerate(FINGERS):
            out.append(EnrolledTemplate(v.cnic, "fingerprint", finger, TEMPLATE_FORMAT, 40 + (i + j) % 40,
                                        perturb(bases[(2 * i + j) % len(bases)], rng)))
        out.append(EnrolledTemplate(v.cnic, "face", "face", ENCODING_FORMAT, 180, faces[i].astype("<f4").tobytes()))
    return out


def load_commission(commission, roll, references) -> None:
    """Bulk-load the roll at the commission (the same bulk path a station's import uses)."""
    from station.packages.apply import apply_content
    from station.packages.format import PackageContent
    from station.roll.store import set_meta
    from station.roll.changes import VoterRecord

    records = tuple(VoterRecord(**{f.name: getattr(v, f.name) for f in dataclasses.fields(VoterRecord)})
                    for v in roll.voters)
    content = PackageContent(
        constituencies=((roll.constituency_code, roll.constituency_en, roll.constituency_ur, roll.district),),
        polling_stations=tuple((s.code, roll.constituency_code, s.name_en, s.name_ur, s.kind, s.booths)
                               for s in roll.stations),
        voters=records, references=tuple(references))
    with commission.transaction() as s:
        apply_content(s, commission.cipher, content, full=True)
        set_meta(s, "synthetic_roll_seed", str(roll.seed))


def _percentiles(values: list[float]) -> dict:
    arr = np.asarray(values)
    return {"n": len(values), "p50_ms": round(float(np.percentile(arr, 50)), 3),
            "p95_ms": round(float(np.percentile(arr, 95)), 3), "max_ms": round(float(arr.max()), 3)}


def require_empty_database(url: str) -> None:
    """InvalidInput unless ``url`` names a database with no table: the bench makes a station of its own there, and a
    station's database (its append-only log) must never receive it."""
    import sqlalchemy as sa

    from station.errors import InvalidInput

    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise InvalidInput(f"--database-url: not a database URL ({exc})") from None
    try:
        tables = sa.inspect(engine).get_table_names()
    except sa.exc.SQLAlchemyError as exc:
        raise InvalidInput(f"--database-url: cannot open it ({str(getattr(exc, 'orig', exc))[:200]})") from None
    finally:
        engine.dispose()
    if tables:
        raise InvalidInput(f"--database-url: the bench needs an empty database; this one is not empty "
                           f"({len(tables)} tables, e.g. {sorted(tables)[0]}): give a new one")


def bench_roll_scale(voters: int = 100_000, seed: int = 5, base_templates: int = 200, workers: int | None = None,
                     lookups: int = 2000, database_url: str | None = None, *,
                     say: Callable[[str], None] | None = None,
                     progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Package N voters at a commission, import into a fresh station, hash, look up. ``say(message)`` is told each
    step; ``progress(stage, done, total)`` follows the import (the command line draws them on standard error)."""
    from station.packages.crypto import (create_commission_key, create_package_key, load_commission_key, load_package_key)
    from station.packages.crypto import public_pem
    from station.packages.targets import add_target
    from station.roll.store import find_voter
    from station.roll.changes import start_revisions
    from station.roll.content_hash import roll_content_hash
    from station.packages.build import build_package
    from station.packages.verify import install_trust
    from station.runtime import Station
    from station.security.users import Principal

    say = say or (lambda _message: None)
    if database_url:
        require_empty_database(database_url)
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}

    class phase:  # wall and CPU time of this process for one step
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self):
            self.wall, self.cpu = time.perf_counter(), time.process_time()

        def __exit__(self, *exc):
            timings[f"{self.name}_s"] = time.perf_counter() - self.wall
            cpu[f"{self.name}_s"] = time.process_time() - self.cpu

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="station-bench-roll-") as tmp:
        tmp = Path(tmp)
        commission = Station(load_config("test", home=tmp / "commission", environ={},
                                         overrides={"station": {"id": "COMMISSION"}}))
        commission.init()
        say(f"making {base_templates} base fingerprint templates...")
        with phase("base_templates"):
            bases = make_base_templates(base_templates, seed, tmp / "fingers", workers)
        say(f"loading {voters:,} voters at the commission...")
        with phase("commission_setup"):
            roll = bench_roll(voters, seed)
            load_commission(commission, roll, bench_references(roll, bases, seed))

        station = Station(load_config("test", home=tmp / "station", environ={}, overrides={
            "station": {"id": "BENCH-01", "polling_station": roll.stations[0].code},
            **({"database": {"url": database_url}} if database_url else {})}))
        station.init()
        create_commission_key(commission.config.keys_dir)
        create_package_key(station.config.keys_dir)
        install_trust(station.config, public_pem(load_commission_key(commission.config.keys_dir).public_key()))
        with commission.transaction() as s:
            start_revisions(s)
            add_target(s, "BENCH-01", roll.stations[0].code, load_package_key(station.config.keys_dir).public_key())

        say("building the package...")
        with phase("build"), commission.transaction() as s:
            built = build_package(s, commission.cipher, load_commission_key(commission.config.keys_dir), "BENCH-01")
        package_file = tmp / "roll.pkg"
        package_file.write_bytes(built.data)
        package_bytes = len(built.data)
        del built
        commission.close()

        say("importing...")
        with phase("import"):
            result = station.packages.import_package(package_file.read_bytes(), operator="bench", progress=progress)
        with phase("hash"), station.transaction() as s:
            digest = roll_content_hash(s, station.cipher)

        rng = random.Random(seed)
        sample = [v.cnic for v in rng.sample(roll.voters, min(lookups, len(roll.voters)))]
        in_session, service, service_cpu = [], [], []
        with station.transaction() as s:
            for cnic in sample:
                t = time.perf_counter()
                find_voter(s, cnic)
                in_session.append((time.perf_counter() - t) * 1000)
        officer = Principal("bench", "polling_officer")
        for cnic in sample:
            t, c = time.perf_counter(), time.thread_time()
            station.roll.voter(officer, cnic)
            service.append((time.perf_counter() - t) * 1000)
            service_cpu.append((time.thread_time() - c) * 1000)
        dialect = station.engine.dialect.name
        station.close()

    out = {
        "voters": voters, "references": result.references, "package_bytes": package_bytes,
        "database": dialect,
        **{k: round(v, 2) for k, v in timings.items()},
        "cpu": {k: round(v, 2) for k, v in cpu.items()},
        "import_voters_per_s": round(voters / timings["import_s"]),
        "hash_matches_commission": digest == result.roll_hash,
        "lookup_find_voter": _percentiles(in_session),
        "lookup_service": _percentiles(service),
        "lookup_service_cpu": _percentiles(service_cpu),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "targets": {"import_s": 60, "lookup_p95_ms": 5},
        "templates": TEMPLATES_NOTE.format(base=len(bases)),
        "notes": "*_s: wall time; cpu: this process's CPU time for the same steps (the machine is shared: compare "
                 "load_average, 1-minute, before and after); build_s: commission builds, encrypts and signs the package (includes its roll hash); import_s: "
                 "read + verify + decrypt + check + apply in one transaction + roll-hash check + commit; hash_s: "
                 "`station roll hash` on the station; lookup_find_voter: roll.find_voter in one open transaction; "
                 "lookup_service: Station.voter (its own transaction per lookup, as the API calls it), and its CPU time "
                 "(lookup_service_cpu)",
    }
    return out
