"""Merging several stations' audit bundles: verify each, then find voters given a ballot at more than one station
(voters are compared by their keyed CNIC hash, which is the same at every station of one commission).

A bundle counts only when it is accepted: its chain holds and its signer is certified by the commission
certificate the verifier gives (or, with ``self_signed_ok`` and no commission certificate, its chain holds). The
ballots of a refused bundle are not counted and it does not take its station's place: a forged bundle merged first
neither frames voters nor makes the real station's bundle a duplicate."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from station.audit.bundle import BundleError, verify_bundle
from station.audit.revocation import RevocationList
from station.audit.voter_keys import compare_ballots


def merge_bundles(paths: list[str | Path], *, commission_cert_pem: bytes | None = None,
                  self_signed_ok: bool = False, revocations: RevocationList | None = None) -> dict:
    bundles, ballots = [], defaultdict(list)
    stations_seen: dict[str, str] = {}
    logs: list[tuple[str, list[dict]]] = []  # accepted bundles, for the voter-key comparison
    for path in paths:
        try:
            result = verify_bundle(path, commission_cert_pem=commission_cert_pem, revocations=revocations)
        except BundleError as exc:
            bundles.append({"path": str(path), "ok": False, "error": str(exc)})
            continue
        accepted = result.accepted(self_signed_ok)
        entry = {"path": str(path), "station": result.station, "ok": accepted, "chain_ok": result.ok,
                 "authenticated": result.authenticated, "signer": result.signer_status(), "entries": result.entries,
                 "sealed": result.sealed, "breaks": [b.message for b in result.breaks]}
        if result.ok and not accepted:
            entry["breaks"].append(result.signer_status())
        if accepted and result.station in stations_seen:
            entry["ok"] = False
            entry["breaks"].append(f"station {result.station} also exported {stations_seen[result.station]}")
        bundles.append(entry)
        if not accepted:
            continue
        stations_seen.setdefault(result.station, str(path))
        logs.append((result.station, result.bodies))
        for body in result.bodies:
            if body.get("event") == "ballot_issued" and body.get("voter"):
                ballots[body["voter"]].append({"station": result.station, "seq": body["seq"], "at": body["at"]})
    double = [{"voter": voter, "ballots": where} for voter, where in sorted(ballots.items())
              if len({w["station"] for w in where}) > 1]
    keys = compare_ballots(logs)  # which voter-reference key each ballot was made under (station/audit/voter_keys.py)
    return {"ok": all(b["ok"] for b in bundles) and not double, "bundles": bundles,
            "voters_with_ballots": len(ballots), "double_votes": double,
            **{k: keys[k] for k in ("voter_keys", "ballots_not_comparable", "ballots_key_unknown")}}
