"""Roll packages for every registered station in parallel on Dask: the commission's stations split into groups, one
task per group on a worker, each package built by ``station.packages.build.build_package`` (the code of
``station roll package``) in a transaction that only reads (on SQLite: no write lock, so workers build side by
side), written by the worker to the output folder and recorded as issued in a short write transaction.

A worker opens the commission's station from its configuration (a frozen dataclass, sent with the task): it reads
the roll from the commission's database and uses the commission's keys folder, so on many machines the database is
PostgreSQL and the keys folder (template key, commission signing key) is on every worker (docs/scaling.md). The
signed match log is hash-chained, so workers do not append to it: once the packages are built, the caller writes one
``roll_package`` entry per package here, in one transaction, as ``station roll package`` would have.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from station.config import Config


@dataclass(frozen=True)
class BuiltSummary:
    station: str
    out: str
    summary: dict


def build_group(config: Config, station_ids: list[str], out_dir: str, voter_key: bytes | None,
                crl: bytes | None) -> list[BuiltSummary]:
    """Run on a worker: the full package of each station of the group, written to ``out_dir/<station>.pkg``."""
    from station.packages.build import build_package, record_issued
    from station.packages.crypto import load_commission_key
    from station.runtime import Station  # the worker's own composition root
    from station.security.files import write_atomically

    commission = Station(config)
    try:
        signing_key = load_commission_key(config.keys_dir)
        out = []
        for station_id in station_ids:
            path = Path(out_dir) / f"{station_id}.pkg"
            # built in a transaction that only reads (on SQLite it takes no write lock, so the workers build side by
            # side), then recorded as issued in a short write of its own
            with commission.read_transaction() as s:
                built = build_package(s, commission.cipher, signing_key, station_id, voter_key=voter_key,
                                      revocation_list=crl, record=False)
            write_atomically(path, built.data)
            with commission.transaction() as s:
                record_issued(s, built, voter_key=voter_key, revocation_list=crl)
            out.append(BuiltSummary(station_id, str(path), built.summary()))
        return out
    finally:
        commission.close()


def build_all(client, config: Config, station_ids: list[str], out_dir: Path, *, voter_key: bytes | None,
              crl: bytes | None, group: int = 32) -> tuple[list[BuiltSummary], float]:
    """Every station's package, ``group`` stations per task; returns the summaries (in ``station_ids`` order) and
    the wall time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    groups = [station_ids[i:i + group] for i in range(0, len(station_ids), group)]
    futures = client.map(build_group, [config] * len(groups), groups, [str(out_dir)] * len(groups),
                         [voter_key] * len(groups), [crl] * len(groups), pure=False)
    built = [b for part in client.gather(futures) for b in part]
    return built, time.perf_counter() - t0


def package_every_station(client, config: Config, *, transaction, log_signer, out_dir: Path, operator: str,
                          voter_key: bytes | None, crl: bytes | None, group: int = 32) -> dict:
    """``station roll package --all``: a full package for every registered station, built on the Dask workers, then
    one ``roll_package`` log entry per package written here (the log has one writer). Returns a JSON summary."""
    from station.audit import log as matchlog
    from station.audit.chain import voter_key_id
    from station.audit.revocation import crl_number
    from station.packages.targets import list_targets

    with transaction() as s:
        station_ids = sorted(t.station_id for t in list_targets(s))
    built, wall_s = build_all(client, config, station_ids, out_dir, voter_key=voter_key, crl=crl, group=group)
    with transaction() as s:
        for b in built:
            h = b.summary
            matchlog.append(s, log_signer, event="roll_package", operator=operator, outcome="built",
                            details={k: h[k] for k in ("package_id", "station", "polling_station", "kind", "version",
                                                       "base_version", "voters", "removals")}
                            | {"voter_key": voter_key and voter_key_id(voter_key),
                               "crl_number": crl and crl_number(crl)})
    return {"packages": len(built), "voters": sum(b.summary["voters"] for b in built), "out_dir": str(out_dir),
            "seconds": round(wall_s, 1), "workers": len(client.scheduler_info()["workers"]),
            "files": [{"station": b.station, "out": b.out, "package_id": b.summary["package_id"],
                       "voters": b.summary["voters"]} for b in built]}
