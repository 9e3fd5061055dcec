"""Benchmark: full CNIC card reads (select, 6 files, passive + active authentication) through pcscd and vpcd.

    python -m drivers.card.bench_pcsc [--reads 100] [--slot 0]

Prints one JSON object. Needs pcscd and vsmartcard-vpcd (a test-only package); starts a private pcscd if none runs
and stops it afterwards. The card carries a ~15 KB face JPEG and two fingerprint templates, like a real ID chip.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import sys
import time

from drivers.card.base import CardHolder
from drivers.card.emulator import CardEmulator
from drivers.card.pcsc import PcscCardReader
from drivers.card.pcscd import VPCD_PORTS, VPCD_READERS, PcscdProcess
from drivers.card.virtual import VirtualCardFile, issue_card, make_test_issuer

HOLDER = CardHolder(cnic="35202-1234567-3", name_en="Muhammad Ali Khan", name_ur="محمد علی خان",
                    relative_name_en="Ahmed Raza Khan", relative_name_ur="احمد رضا خان", relation="father",
                    date_of_birth=dt.date(1984, 3, 14), gender="male", issue_date=dt.date(2021, 6, 1),
                    expiry_date=dt.date(2031, 6, 1), card_number="CN-0000001")


def _face_jpeg() -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:320, 0:240]
    image = np.stack([128 + 60 * np.sin(x / 9.0), 110 + 50 * np.cos(y / 11.0), 140 + rng.normal(0, 24, (320, 240))], -1)
    out = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=88)
    return out.getvalue()


def _template(seed: int, finger_code: int) -> bytes:
    """A standard ISO/IEC 19794-2:2005 record (matching/iso19794.py) of 45 random minutiae for ``finger_code``."""
    import random

    import numpy as np

    from matching import iso19794

    rng = random.Random(seed)
    m = np.array([(rng.randrange(512), rng.randrange(256), rng.randrange(256), iso19794.ENDING, 60) for _ in range(45)])
    return iso19794.write_standard(m, 512, 512, finger_position=finger_code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=100)
    parser.add_argument("--slot", type=int, choices=(0, 1), default=0)
    args = parser.parse_args(argv)
    key, cert = make_test_issuer("Bench Test Issuer")
    face = _face_jpeg()
    fingerprints = [("right_thumb", _template(1, 1)), ("left_thumb", _template(2, 6))]
    card = issue_card(HOLDER, face_jpeg=face, fingerprints=fingerprints,
                      issuer_key=key, issuer_cert=cert)
    files = VirtualCardFile.from_bytes(card).files
    daemon = PcscdProcess().ensure()
    try:
        from smartcard.CardRequest import CardRequest

        reader_name = VPCD_READERS[args.slot]
        with PcscCardReader(reader_name) as reader, CardEmulator(card, port=VPCD_PORTS[args.slot]) as emulator:
            started = time.perf_counter()
            CardRequest(timeout=10, readers=[reader_name]).waitforcard()
            appear_ms = (time.perf_counter() - started) * 1000
            times = []
            for _ in range(args.reads):
                t0 = time.perf_counter()
                reader.read_card(trusted_issuers=[cert], timeout_s=5)
                times.append((time.perf_counter() - t0) * 1000)
            apdus = emulator.apdus / args.reads
    finally:
        daemon.stop()
    times_sorted = sorted(times)
    print(json.dumps({
        "bench": "card_read_pcsc", "reads": args.reads, "reader": reader_name,
        "pcscd": "reused" if daemon.reused else "private",
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times_sorted[max(0, int(round(0.95 * len(times))) - 1)], 2),
        "min_ms": round(times_sorted[0], 2), "max_ms": round(times_sorted[-1], 2),
        "card_appeared_ms": round(appear_ms, 1), "apdus_per_read": round(apdus, 1),
        "card_bytes": sum(len(d) for d in files.values()), "face_jpeg_bytes": len(face),
        "loadavg_1m": round(os.getloadavg()[0], 2), "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
