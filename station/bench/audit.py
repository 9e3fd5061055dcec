"""``station bench audit``: the match log's costs: signing and writing an entry in its transaction, verifying a bundle
offline, and the bundle's size. The command line is station/cli/bench.py."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from station.config import load_config


def bench_audit(entries: int = 1000) -> dict:
    """Time log appends (in real transactions on SQLite), bundle export and offline verification."""
    from station.audit import log as matchlog
    from station.audit.bundle import verify_bundle
    from station.runtime import Station

    with tempfile.TemporaryDirectory(prefix="station-bench-audit-") as home:
        station = Station(load_config("test", home=home, environ={}))
        station.init()
        times = []
        for i in range(entries):
            started = time.perf_counter()
            with station.transaction() as s:
                matchlog.append(s, station.flow.log, event="fingerprint_attempt", operator="officer",
                                outcome="match", session_id=f"bench-{i // 3}", cnic=f"{10000 + i % 900:05d}-1234567-1",
                                modality="fingerprint", position="right_thumb", device_id="sim:SIM-FP-0001",
                                attempt=1, score=87.0, threshold=40.0, quality=48, details={"minutiae": 61})
            times.append((time.perf_counter() - started) * 1000)
        bundle = Path(home) / "bundle.zip"
        started = time.perf_counter()
        station.audit.export(bundle)
        export_s = time.perf_counter() - started
        started = time.perf_counter()
        result = verify_bundle(bundle)
        verify_s = time.perf_counter() - started
        size = bundle.stat().st_size
        station.close()
    arr = np.asarray(times)
    report = {
        "entries": entries, "append_ms": {"p50": round(float(np.median(arr)), 3), "p95": round(float(np.percentile(arr, 95)), 3)},
        "entries_per_verification": 3,
        "log_ms_per_verification_p50": round(3 * float(np.median(arr)), 2),
        "export_s": round(export_s, 3), "verify_entries_per_s": round(entries / verify_s),
        "verify_ok": result.ok, "bundle_bytes": size, "bundle_bytes_per_1000_entries": round(size * 1000 / entries),
        "note": "append = canonical JSON + Ed25519 signature + insert + chain-head update, each in its own committed "
                "SQLite transaction (synchronous=FULL); a verification writes identify, attempt(s) and ballot entries",
    }
    return report
