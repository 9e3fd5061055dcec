"""``station bench authority``: what the ID-authority link adds per voter with the link up, against the simulated
authority on this machine (mutual TLS on 127.0.0.1, Ed25519-signed answers, bozorth3 at the authority).

    station bench authority --voters 60 --seed 11 --json

The station's voters are split in three groups, each voter verified once (identify, fingerprint, ballot):

* ``no_link``: no authority configured (the flow as before);
* ``sync``: the two checks made inline, as a synchronous hook would (``AuthorityChecks.check``: request, signature
  check, match-log entry): their time is what the officer would wait;
* ``background``: the hook the station uses (``AuthorityChecks.consult``): the time it adds to the officer's requests,
  and how long after the identification the authority's status answer is in the log.

The simulator's fingerprint references are built before timing (the authority's own work is not the station's).
The probe template sent for the 1:1 check is extracted outside the timed part (the station has it in hand).
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from station.config import load_config
from station.security.users import Principal


def _percentiles(values: list[float]) -> dict | None:
    if not values:
        return None
    arr = np.asarray(values)
    return {"n": len(values), "p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p95_ms": round(float(np.percentile(arr, 95)), 2), "max_ms": round(float(arr.max()), 2)}


def bench_authority(voters: int = 60, seed: int = 11, timeout_s: float = 3.0) -> dict:
    """Added latency per voter with the ID-authority link up (p50, p95), synchronous and background hooks."""
    from drivers.fingerprint.simulated import MasterCache
    from drivers.fingerprint.synthetic import render_impression
    from sqlalchemy import func, select

    from station.authority.settings import AuthoritySettings
    from station.simulation.authority import AuthoritySimulator
    from station.authority.checks import AuthorityChecks
    from station.db.models import MatchLogEntry
    from station.runtime import Station
    from station.simulation.roll import finger_subject

    officer = Principal("bench", "polling_officer")
    with tempfile.TemporaryDirectory(prefix="station-bench-authority-") as tmp:
        home = Path(tmp) / "home"
        station = Station(load_config("test", home=home, environ={},
                                      overrides={"audit": {"cross_check_last": 0}}))
        station.init()
        station.synthesize_roll(voters, seed)
        here = station.roll.list_voters(polling_station=station.config.station.polling_station)
        modes = ("no_link", "sync", "background")
        # the first voter warms up (matcher, connections) unrecorded; then the modes take turns, voter by voter
        plan = [(here[0], "no_link", False)] + [(v, modes[i % 3], True) for i, v in enumerate(here[1:])]
        groups = {m: [v for v, mode, kept in plan if mode == m and kept] for m in modes}
        masters = MasterCache(station.sim_dir / "fingers")
        matcher = station.fingerprint_matcher

        def probe(cnic: str, finger: str) -> bytes:
            master = masters.get(finger_subject(seed, cnic, finger))
            return matcher.exchange_record(matcher.extract(render_impression(master, impression=7)).data)

        fp = station.config.fingerprint
        sim = AuthoritySimulator(Path(tmp) / "authority", synthetic_seed=seed, finger_cache=station.sim_dir / "fingers",
                                 matcher=fp.matcher, match_threshold=fp.engine.match_threshold)
        sim.start()
        sim.prepare_references([(v.cnic, f) for v in here for f in v.fingers])
        linked = AuthorityChecks.from_settings(sim.station_settings(station.config.station.id, timeout_s=timeout_s),
                                               transaction=station.transaction, signer=station.log_signer,
                                               cipher=station.cipher)
        offline = AuthorityChecks.from_settings(AuthoritySettings.none(station.config.station.id),
                                                transaction=station.transaction, signer=station.log_signer,
                                                cipher=station.cipher)
        flow: dict[str, list[float]] = {k: [] for k in groups}
        sync_status, sync_bio, sync_total, hook_total = [], [], [], []
        identified_at: dict[str, dt.datetime] = {}
        mode_of: dict[str, str] = {}
        try:
            for voter, mode, kept in plan:
                checks = linked if mode != "no_link" else offline
                station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
                template = probe(voter.cnic, voter.fingers[0])  # outside the timing: the station has it
                spent = 0.0
                t0 = time.perf_counter()
                view = station.polling.start_verification(officer, voter.cnic)
                identified_at[view.id] = dt.datetime.now(dt.timezone.utc)
                mode_of[view.id] = mode
                t1 = time.perf_counter()
                if mode == "sync":
                    checks.check("cnic_status", session_id=view.id, cnic=view.cnic, operator=officer.username)
                    sync_status.append((time.perf_counter() - t1) * 1000)
                else:
                    view = checks.consult(view, operator=officer.username)
                spent += time.perf_counter() - t1
                while view.state == "IDENTIFIED" and view.next_step == "fingerprint":
                    if view.next_finger != voter.fingers[0]:
                        station.steering.present_fingerprint(officer, voter.cnic, view.next_finger)
                    view = station.polling.capture_fingerprint(officer, view.id)
                if view.state == "VERIFIED":
                    finger = view.last_attempt.position
                    if finger != voter.fingers[0]:
                        pause = time.perf_counter()
                        template = probe(voter.cnic, finger)
                        t0 += time.perf_counter() - pause
                    t2 = time.perf_counter()
                    if mode == "sync":
                        checks.check("biometric", session_id=view.id, cnic=view.cnic, operator=officer.username,
                                     finger=finger, template=template, station_state=view.state)
                        sync_bio.append((time.perf_counter() - t2) * 1000)
                    else:
                        view = checks.consult(view, operator=officer.username, finger=finger, template=template)
                    spent += time.perf_counter() - t2
                    station.polling.issue_ballot(officer, view.id)
                if not kept:
                    continue
                flow[mode].append((time.perf_counter() - t0) * 1000)
                if mode == "sync":
                    sync_total.append(spent * 1000)
                elif mode == "background":
                    hook_total.append(spent * 1000)
            linked.wait_idle(60)
            with station.transaction() as s:
                rows = s.execute(select(MatchLogEntry.session_id, MatchLogEntry.at, MatchLogEntry.details)
                                 .where(MatchLogEntry.event == "authority_answer")).all()
                unanswered = s.scalar(select(func.count()).select_from(MatchLogEntry)
                                      .where(MatchLogEntry.event.like("authority_%"),
                                             MatchLogEntry.event != "authority_answer"))
            answer_after, round_trip = [], {"cnic_status": [], "biometric": []}
            for session_id, at, details in rows:
                d = json.loads(details)
                round_trip[d["kind"]].append(d["elapsed_ms"])
                if d["kind"] == "cnic_status" and mode_of.get(session_id) == "background":
                    at = at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)
                    answer_after.append((at - identified_at[session_id]).total_seconds() * 1000)
        finally:
            linked.close()
            offline.close()
            sim.stop()
            station.close()
    result = {
        "voters_on_roll": voters, "voters_at_station": len(here), "timeout_s": timeout_s,
        "groups": {k: len(v) for k, v in groups.items()},
        "link_up": {
            "sync": {"status_check": _percentiles(sync_status), "biometric_check": _percentiles(sync_bio),
                     "added_per_voter": _percentiles(sync_total)},
            "background": {"added_per_voter": _percentiles(hook_total),
                           "status_answer_logged_after_identify": _percentiles(answer_after)},
            "client_round_trip": {k: _percentiles(v) for k, v in round_trip.items()},
        },
        "flow_per_voter": {k: _percentiles(v) for k, v in flow.items()},
        "flow_p50_difference_ms": {k: round(statistics.median(flow[k]) - statistics.median(flow["no_link"]), 1)
                                   for k in ("sync", "background") if flow[k] and flow["no_link"]},
        "not_answered": unanswered,
        "notes": "sync: the officer waits for both checks (request over mutual TLS, signature check, log entry); "
                 "background: the hook submits and returns, the answer is logged while the officer captures the "
                 "print. flow_per_voter: identify + capture(s) + ballot, machine time only.",
    }
    return result
