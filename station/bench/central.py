"""``station bench central``: the commission's election night at scale. N synthetic stations, each certified by a
throw-away commission, export about M ballots each as signed sync files, with K planted double votes (one voter
given a ballot at two stations); C merger processes load them into the central database through the real merge
(``station.central.merge.merge_file``: every file verified against the commission certificate, every log entry's
signature checked), then the double-vote query runs, and the result must be exactly the planted double votes.
A second merge of every file must change nothing.

The files are made with the station's own signing code (``LogSigner.seal`` chains and signs each log entry,
``bundle.signed_statement`` the closing seal, ``results_export.build_sync_file`` the file) but their records are
generated in bulk, without a station database. Each ballot is the minimum a file must carry to be accepted: one
verification session and its two log entries (``identify``, ``ballot_issued``); a real station's log also holds its
fingerprint attempts, so real files cost the verifier more per ballot. Generated files are cached in a folder under
the system's temporary directory (never in the repository), keyed by N, M, K and the seed, and reused.

Merger processes are started with the ``spawn`` method (the parent may have threads: a fork could copy a held lock).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import random
import shutil
import time
import uuid
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from station.audit.bundle import FORMAT as BUNDLE_FORMAT, signed_statement
from station.audit.chain import LogSigner, genesis_hash
from station.audit.identity import ROLE_STATION
from station.central import findings
from station.central.db import CentralDatabase
from station.central.merge import ALREADY_IMPORTED, IMPORTED, merge_file
from station.security.files import private_cache_dir
from station.central.results_export import FORMAT as SYNC_FORMAT, build_sync_file
from station.errors import InvalidInput
from station.packages.crypto import commission_root, issue_certificate

log = logging.getLogger(__name__)

GENERATOR = "bench-central v1"  # part of the cache key: change it when the generated files change
CACHE_FOLDER = "station-bench-central"
COMPLETE = "complete.json"  # written last: a cache folder without it is incomplete and made again
STATIONS_PER_CONSTITUENCY = 120  # AJK: 5,429 polling stations in 45 constituencies
SILENT_PER_CONSTITUENCY = 1  # polling stations in each constituency's scheme that never report
ELECTION_DAY = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.timezone.utc)
PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class ElectionPlan:
    """What to generate: deterministic from the seed (the station keys are fresh; the cache keeps the files)."""

    stations: int
    ballots: int
    double_votes: int
    seed: int = 1

    def __post_init__(self) -> None:
        if self.stations < 2 or self.ballots < 1:
            raise InvalidInput("the central bench needs at least 2 stations and 1 ballot per station")
        if self.double_votes > self.stations * self.ballots:
            raise InvalidInput("more double votes than voters")

    @property
    def cache_key(self) -> str:
        return f"n{self.stations}-m{self.ballots}-k{self.double_votes}-s{self.seed}-" + hashlib.sha256(
            GENERATOR.encode()).hexdigest()[:8]


def station_id(i: int) -> str:
    return f"BENCH-{i:05d}"


def polling_station(i: int) -> str:
    return f"PS-{i:05d}"


def constituency(i: int) -> str:
    return f"LA-{i // STATIONS_PER_CONSTITUENCY:03d}"


def silent_polling_stations(plan: ElectionPlan) -> list[tuple[str, str]]:
    """(constituency, code) of the planted polling stations that never report."""
    return [(c, f"PS-SILENT-{c}-{n}") for c in sorted({constituency(i) for i in range(plan.stations)})
            for n in range(SILENT_PER_CONSTITUENCY)]


def cnic_of(voter: int) -> str:
    digits = f"{10**12 + voter:013d}"
    return f"{digits[:5]}-{digits[5:12]}-{digits[12]}"


def planted_double_votes(plan: ElectionPlan) -> dict[str, tuple[str, str]]:
    """CNIC -> (the station on whose roll the voter is, the other station that also gave a ballot)."""
    rng = random.Random(plan.seed)
    planted = {}
    for voter in rng.sample(range(plan.stations * plan.ballots), plan.double_votes):
        home = voter // plan.ballots
        other = rng.randrange(plan.stations - 1)
        other += other >= home
        planted[cnic_of(voter)] = (station_id(home), station_id(other))
    return planted


def _voters_of(plan: ElectionPlan, i: int, extra: dict[str, list[str]]) -> list[str]:
    return [cnic_of(i * plan.ballots + j) for j in range(plan.ballots)] + extra.get(station_id(i), [])


def _session_id(i: int, j: int) -> str:
    return str(uuid.UUID(int=(i << 40) | j))


def _scheme(plan: ElectionPlan, i: int) -> list[dict]:
    """The polling stations of station i's constituency, with its silent ones: every station of it lists them."""
    here = constituency(i)
    first = (i // STATIONS_PER_CONSTITUENCY) * STATIONS_PER_CONSTITUENCY
    codes = [polling_station(k) for k in range(first, min(first + STATIONS_PER_CONSTITUENCY, plan.stations))]
    codes += [code for c, code in silent_polling_stations(plan) if c == here]
    return [{"constituency": here, "constituency_name": f"Constituency {here}", "polling_station": code,
             "name": f"Polling station {code}", "kind": "combined", "booths": 2} for code in codes]


def station_file(plan: ElectionPlan, i: int, commission_key: Ed25519PrivateKey, commission_cert: x509.Certificate,
                 voter_key: bytes, extra: dict[str, list[str]]) -> bytes:
    """One station's signed sync file: a fresh station key certified by the commission, its log signed entry by
    entry, its results, the file signed as ``station sync export`` signs it."""
    sid, ps = station_id(i), polling_station(i)
    key = Ed25519PrivateKey.generate()
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sid)])).sign(key, None))
    cert_pem = issue_certificate(commission_key, commission_cert, request, sid, ROLE_STATION).public_bytes(PEM)
    signer = LogSigner(sid, key, voter_key)
    entries, sessions, ballots, prev = [], [], [], genesis_hash(sid)
    for j, cnic in enumerate(_voters_of(plan, i, extra)):
        session, voter = _session_id(i, j), signer.voter_ref(cnic)
        came, voted = ELECTION_DAY + dt.timedelta(seconds=30 * j), ELECTION_DAY + dt.timedelta(seconds=30 * j + 20)
        for event, outcome, at in (("identify", "IDENTIFIED", came), ("ballot_issued", "BALLOT_ISSUED", voted)):
            entry = signer.seal({"v": 1, "seq": len(entries) + 1, "at": at.isoformat(), "station": sid,
                                 "event": event, "operator": "officer", "session": session, "voter": voter,
                                 "serial": j + 1, "outcome": outcome, "prev": prev})
            entries.append(entry)
            prev = entry.hash
        sessions.append({"id": session, "cnic": cnic, "serial_number": j + 1, "state": "BALLOT_ISSUED",
                         "source": "typed", "operator": "officer", "decided_by": "fingerprint",
                         "exception_reason": None, "exception_note": None, "fingerprint_attempts": 1,
                         "face_attempts": 0, "gender_mismatch": False, "created_at": came.isoformat(),
                         "updated_at": voted.isoformat()})
        ballots.append({"session": session, "cnic": cnic, "voted_at": voted.isoformat(), "issued_by": "officer",
                        "decided_by": "fingerprint"})
    closed_at = (ELECTION_DAY + dt.timedelta(hours=10)).isoformat()
    exported_at = (ELECTION_DAY + dt.timedelta(hours=10, minutes=5)).isoformat()
    roll_digest = hashlib.sha256(f"bench roll {plan.seed}".encode()).hexdigest()
    seal = signed_statement(signer, {"kind": "seal", "station": sid, "seq": len(entries), "hash": prev,
                                     "closed_at": closed_at, "counts": {"ballots": len(ballots)}})
    bundle = io.BytesIO()  # the members station.audit.bundle.export_bundle writes
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps({"format": BUNDLE_FORMAT, "station": sid, "exported_at": exported_at,
                                                "entries": len(entries)}, indent=1))
        z.writestr("log.jsonl", "".join(e.to_json() + "\n" for e in entries))
        z.writestr("station.crt", cert_pem)
        z.writestr("roll.json", json.dumps({"roll_digest": roll_digest}))
        z.writestr("seal.json", json.dumps(seal))
    results = {
        "format": SYNC_FORMAT, "exported_at": exported_at,
        "station": {"id": sid, "name": f"Station {sid}", "polling_station": ps, "constituency": constituency(i),
                    "timezone": "Asia/Karachi", "certificate": cert_pem.decode(),
                    "commission_certificate": commission_cert.public_bytes(PEM).decode()},
        "roll": {"digest": roll_digest, "version": None, "voters": len(ballots), "voted": len(ballots)},
        "poll_state": "closed", "polling_scheme": _scheme(plan, i), "verification_sessions": sessions,
        "ballots": ballots, "enrollments": [],
        "audit": {"entries": len(entries), "head_seq": len(entries), "head_hash": prev, "sealed": True,
                  "chain_ok": True},
    }
    return build_sync_file(key, results, bundle.getvalue())


def _generate_chunk(plan: ElectionPlan, indexes: list[int], commission_key_raw: bytes, commission_pem: bytes,
                    voter_key: bytes, extra: dict[str, list[str]], folder: str) -> int:
    """Worker: write the files of stations ``indexes`` into ``folder``."""
    commission_key = Ed25519PrivateKey.from_private_bytes(commission_key_raw)
    commission_cert = x509.load_pem_x509_certificate(commission_pem)
    for i in indexes:
        data = station_file(plan, i, commission_key, commission_cert, voter_key, extra)
        (Path(folder) / f"{station_id(i)}.sync").write_bytes(data)
    return len(indexes)


@dataclass(frozen=True)
class GeneratedElection:
    folder: Path
    files: tuple[Path, ...]
    commission_pem: bytes
    planted: dict[str, tuple[str, str]]
    seconds: float  # 0.0 when taken from the cache
    cached: bool


def generate(plan: ElectionPlan, *, cache_root: Path | None = None, workers: int | None = None,
             progress: Callable[[str], None] | None = None) -> GeneratedElection:
    """The plan's signed files, from the cache when a complete set is there, otherwise made now (in ``workers``
    spawned processes) by a fresh throw-away commission."""
    folder = (Path(cache_root) / CACHE_FOLDER if cache_root else private_cache_dir(CACHE_FOLDER)) / plan.cache_key
    planted = planted_double_votes(plan)
    names = [folder / f"{station_id(i)}.sync" for i in range(plan.stations)]
    if (folder / COMPLETE).is_file() and all(p.is_file() for p in names):
        done = json.loads((folder / COMPLETE).read_text())
        return GeneratedElection(folder, tuple(names), done["commission_certificate"].encode(), planted, 0.0, True)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)
    commission_key = Ed25519PrivateKey.generate()  # throw-away: never written, only its certificate is kept
    commission_pem = commission_root(commission_key).public_bytes(PEM)
    raw = commission_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())
    voter_key = hashlib.sha256(f"bench voter-reference key {plan.seed}".encode()).digest()
    extra: dict[str, list[str]] = {}
    for cnic, (_, other) in sorted(planted.items()):
        extra.setdefault(other, []).append(cnic)
    workers = workers or os.cpu_count() or 1
    chunks = [list(range(plan.stations))[k::workers * 8] for k in range(workers * 8)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_generate_chunk, plan, chunk, raw, commission_pem, voter_key, extra, str(folder))
                   for chunk in chunks if chunk]
        made = 0
        for future in futures:
            made += future.result()
            if progress:
                progress(f"generated {made}/{plan.stations} station files")
    seconds = time.perf_counter() - started
    (folder / COMPLETE).write_text(json.dumps({"plan": asdict(plan), "generator": GENERATOR,
                                               "commission_certificate": commission_pem.decode(),
                                               "seconds": seconds}))
    return GeneratedElection(folder, tuple(names), commission_pem, planted, seconds, False)


def _merge_worker(url: str, paths: list[str], commission_pem: bytes) -> dict[str, int]:
    """Worker: one merger process, its own connection, merging ``paths`` in order; counts per status."""
    logging.getLogger("station.central").setLevel(logging.WARNING)
    counts: dict[str, int] = {}
    database = CentralDatabase(url).open()
    try:
        for path in paths:
            status = merge_file(database, Path(path), commission_pem=commission_pem)["status"]
            counts[status] = counts.get(status, 0) + 1
    finally:
        database.close()
    return counts


def merge_concurrently(url: str, files: list[Path], commission_pem: bytes, mergers: int, *,
                       every_file_to_every_merger: bool = False) -> dict[str, int]:
    """Merge ``files`` with ``mergers`` spawned processes: each takes its share (files k, k+C, ...), or, with
    ``every_file_to_every_merger``, all of them in the same order (mergers racing for each file). Statuses summed."""
    shares = ([[str(p) for p in files]] * mergers if every_file_to_every_merger
              else [[str(p) for p in files[k::mergers]] for k in range(mergers)])
    total: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=mergers, mp_context=get_context("spawn")) as pool:
        for counts in pool.map(_merge_worker, [url] * mergers, shares, [commission_pem] * mergers):
            for status, n in counts.items():
                total[status] = total.get(status, 0) + n
    return total


@dataclass(frozen=True)
class Check:
    double_votes_found: int
    false_reports: int
    not_reported_found: int
    not_reported_false: int
    totals: dict[str, int]
    query_seconds: float


def check_findings(database: CentralDatabase, plan: ElectionPlan, planted: dict[str, tuple[str, str]]) -> Check:
    """Run the double-vote and not-reported queries; compare with what was planted."""
    started = time.perf_counter()
    with database.transaction() as s:
        doubles = findings.double_votes(s)
    query_seconds = time.perf_counter() - started
    with database.transaction() as s:
        silent = findings.stations_not_reported(s)
        totals = findings.totals(s)
    found = sum(1 for d in doubles if d["cnic"] in planted and set(d["stations"]) == set(planted[d["cnic"]])
                and len(d["ballots"]) == 2)
    planted_silent = {code for _, code in silent_polling_stations(plan)}
    reported_silent = {s["polling_station"] for s in silent}
    return Check(found, len(doubles) - found, len(reported_silent & planted_silent),
                 len(reported_silent - planted_silent), totals, query_seconds)


def bench_central(stations: int, ballots: int, double_votes: int, db_url: str, *, mergers: int = 1, seed: int = 1,
                  cache_root: Path | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Generate (or reuse), merge with ``mergers`` processes, check, merge again; one JSON-ready dict."""
    plan = ElectionPlan(stations, ballots, double_votes, seed)
    election = generate(plan, cache_root=cache_root, progress=progress)
    database = CentralDatabase(db_url).open()
    try:
        with database.transaction() as s:
            if findings.totals(s)["files"]:
                raise InvalidInput("the central bench needs an empty central database: this one holds imports")
        if progress:
            progress(f"merging {len(election.files)} files with {mergers} merger(s)")
        started = time.perf_counter()
        first = merge_concurrently(db_url, list(election.files), election.commission_pem, mergers)
        seconds = time.perf_counter() - started
        if progress:
            progress(f"merged in {seconds:.1f} s: {first}; querying")
        check = check_findings(database, plan, election.planted)
        started = time.perf_counter()
        second = merge_concurrently(db_url, list(election.files), election.commission_pem, mergers)
        second_seconds = time.perf_counter() - started
        again = check_findings(database, plan, election.planted)
    finally:
        database.close()
    merged = check.totals["ballots"]
    changed = (again.totals != check.totals or again.double_votes_found != check.double_votes_found
               or again.false_reports != check.false_reports)
    silent = len(silent_polling_stations(plan))
    meets = (first.get(IMPORTED, 0) == stations and check.double_votes_found == len(election.planted)
             and check.false_reports == 0 and check.not_reported_found == silent and check.not_reported_false == 0
             and second.get(ALREADY_IMPORTED, 0) == stations and not changed)
    return {
        "seconds": round(seconds, 3), "ballots": merged,
        "double_votes_found": check.double_votes_found, "double_votes_planted": len(election.planted),
        "false_reports": check.false_reports, "ballots_per_s": round(merged / seconds, 1) if seconds else None,
        "mergers": mergers, "meets_checks": meets,
        "stations": stations, "files_imported": first.get(IMPORTED, 0), "files_other": {
            k: v for k, v in first.items() if k != IMPORTED},
        "double_vote_query_seconds": round(check.query_seconds, 3),
        "stations_not_reported_found": check.not_reported_found,
        "stations_not_reported_planted": silent,
        "stations_not_reported_false": check.not_reported_false,
        "second_merge": {"seconds": round(second_seconds, 3), "already_imported": second.get(ALREADY_IMPORTED, 0),
                         "other": {k: v for k, v in second.items() if k != ALREADY_IMPORTED},
                         "changed": changed},
        "totals": check.totals,
        "generation": {"seconds": round(election.seconds, 1), "cached": election.cached,
                       "folder": str(election.folder)},
        "database": database.dialect,
        "per_ballot": "1 verification session + 2 signed log entries (identify, ballot_issued)",
    }
