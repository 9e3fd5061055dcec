"""``station bench packages``: roll packages for every station built in parallel on Dask (station/national/packages.py).

A commission holds ``voters`` voters spread evenly over ``stations`` polling stations (20 to a constituency), each
polling station one registered target with its own X25519 package key; every voter has two fingerprint references
(impressions of the dedup benchmark's generated fingers: real minutiae layouts, station/bench/dedup.py) and a face
(128 float32), as ``bench roll-scale``. The packages are then built, signed and encrypted on ``workers`` local worker
processes (or a scheduler's workers), written to a temporary folder, and one in ``verify`` of them is checked
(signature, decryption, counts). Loading the roll is timed apart: it is the benchmark's set-up, not the packaging.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from station.config import load_config
from station.errors import InvalidInput

PER_CONSTITUENCY = 20
FINGERS = ("right_thumb", "left_thumb")


def _load_roll(commission, voters: int, stations: int, seed: int, bases: list[dict]) -> list[str]:
    """The roll, in chunks of one constituency (the bulk path a station's import uses: a delta per constituency,
    which reads only the rows it touches, so the load is linear in the roll); returns the station codes."""
    from matching.face import ENCODING_FORMAT

    from station.bench import dedup as gallery
    from station.bench.roll_scale import bench_roll
    from station.packages.apply import apply_content
    from station.packages.format import PackageContent
    from station.roll.changes import VoterRecord
    from station.roll.store import EnrolledTemplate

    codes = [f"PS-{i + 1:05d}" for i in range(stations)]
    rng = np.random.default_rng(seed)
    people = bench_roll(voters, seed).voters
    per = math.ceil(voters / stations)
    impressions = [gallery.impression(bases, seed, p, f, 0) for p in range(64) for f in range(2)]
    for c in range(0, stations, PER_CONSTITUENCY):
        group = codes[c:c + PER_CONSTITUENCY]
        constituency = f"NA-{c // PER_CONSTITUENCY + 1:03d}"
        records, refs = [], []
        for i, code in enumerate(group):
            start = (c + i) * per
            for serial, v in enumerate(people[start:start + per]):
                records.append(VoterRecord(**{f.name: getattr(v, f.name) for f in dataclasses.fields(VoterRecord)}
                                           | {"polling_station": code, "serial_number": serial + 1,
                                              "booth": 1 + serial // 300}))
                for j, finger in enumerate(FINGERS):
                    refs.append(EnrolledTemplate(v.cnic, "fingerprint", finger, gallery.TEMPLATE_FORMAT, 50,
                                                 impressions[int(rng.integers(len(impressions)))]))
                refs.append(EnrolledTemplate(v.cnic, "face", "face", ENCODING_FORMAT, 180,
                                             rng.standard_normal(128).astype("<f4").tobytes()))
        content = PackageContent(
            constituencies=((constituency, f"Constituency {constituency}", "", "District"),),
            polling_stations=tuple((code, constituency, f"Station {code}", "", "combined", max(1, per // 300 + 1))
                                   for code in group),
            voters=tuple(records), references=tuple(refs))
        with commission.transaction() as s:
            apply_content(s, commission.cipher, content, full=False)
    return codes


def bench_packages(voters: int, stations: int, workers: int, scheduler: str = "local", seed: int = 3,
                   group: int = 16, verify: int = 50, say=None) -> dict:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from station.bench.dedup import cached_bases, default_cache_dir
    from station.national.cluster import dask_client
    from station.national.packages import build_all
    from station.packages.crypto import create_commission_key, load_commission_key
    from station.packages.targets import add_target
    from station.packages.verify import open_payload, verify_signature
    from station.roll.changes import start_revisions
    from station.runtime import Station

    if stations > voters:
        raise InvalidInput(f"--stations {stations} is more than --voters {voters}: every polling station needs a voter")
    say = say or (lambda _m: None)
    bases = cached_bases(default_cache_dir())
    with tempfile.TemporaryDirectory(prefix="station-bench-packages-") as tmp:
        tmp = Path(tmp)
        commission = Station(load_config("test", home=tmp / "commission", environ={},
                                         overrides={"station": {"id": "COMMISSION"}}))
        commission.init()
        say(f"loading {voters:,} voters over {stations:,} polling stations...")
        t0 = time.perf_counter()
        codes = _load_roll(commission, voters, stations, seed, bases)
        create_commission_key(commission.config.keys_dir)
        keys = {}
        with commission.transaction() as s:
            start_revisions(s)
            for i, code in enumerate(codes):
                keys[f"ST-{i + 1:05d}"] = X25519PrivateKey.generate()
                add_target(s, f"ST-{i + 1:05d}", code, keys[f"ST-{i + 1:05d}"].public_key())
        setup_s = time.perf_counter() - t0
        commission.close()
        say(f"building {len(keys):,} packages on {workers} workers...")
        load_before = os.getloadavg()
        with dask_client(scheduler, workers=workers) as client:
            used = len(client.scheduler_info()["workers"])
            built, wall_s = build_all(client, commission.config, sorted(keys), tmp / "packages", voter_key=None,
                                      crl=None, group=group)
        trusted = load_commission_key(commission.config.keys_dir).public_key()
        checked = 0
        for b in random.Random(seed).sample(built, min(verify, len(built))):
            content = open_payload(verify_signature(Path(b.out).read_bytes(), trusted), keys[b.station])
            assert len(content.voters) == b.summary["voters"]
            checked += 1
        total_bytes = sum(b.summary["bytes"] for b in built)
    per_package_s = wall_s * used / len(built)
    return {
        "packages": len(built), "voters": sum(b.summary["voters"] for b in built), "stations": stations,
        "workers": used, "wall_s": round(wall_s, 1), "packages_per_s": round(len(built) / wall_s, 2),
        "worker_s_per_package": round(per_package_s, 3), "bytes_total_mb": round(total_bytes / 2 ** 20, 1),
        "verified_sample": checked, "setup_s": round(setup_s, 1), "group": group, "scheduler": scheduler,
        "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "data": "two fingerprint references (ISO 19794-2, real minutiae layouts) and a face per voter; voters "
                "spread evenly; 20 polling stations per constituency",
    }
