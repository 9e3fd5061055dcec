"""Merging several stations' audit bundles: verify each, then find voters given a ballot at more than one station
(voters are compared by their keyed CNIC hash, which is the same at every station of one commission)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from station.audit.bundle import BundleError, verify_bundle


def merge_bundles(paths: list[str | Path]) -> dict:
    bundles, ballots = [], defaultdict(list)
    stations_seen: dict[str, str] = {}
    for path in paths:
        try:
            result = verify_bundle(path)
        except BundleError as exc:
            bundles.append({"path": str(path), "ok": False, "error": str(exc)})
            continue
        entry = {"path": str(path), "station": result.station, "ok": result.ok, "entries": result.entries,
                 "sealed": result.sealed, "breaks": [b.message for b in result.breaks]}
        if result.station in stations_seen:
            entry["ok"] = False
            entry["breaks"].append(f"station {result.station} also exported {stations_seen[result.station]}")
        stations_seen.setdefault(result.station, str(path))
        bundles.append(entry)
        for body in result.bodies:
            if body.get("event") == "ballot_issued" and body.get("voter"):
                ballots[body["voter"]].append({"station": result.station, "seq": body["seq"], "at": body["at"]})
    double = [{"voter": voter, "ballots": where} for voter, where in sorted(ballots.items())
              if len({w["station"] for w in where}) > 1]
    return {"ok": all(b["ok"] for b in bundles) and not double, "bundles": bundles,
            "voters_with_ballots": len(ballots), "double_votes": double}
