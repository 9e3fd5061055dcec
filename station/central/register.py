"""The commission's register of stations, as the CENTRE holds it: station id -> the polling station the commission
registered it for (`station roll add-station ID --polling-station CODE`). verify.py refuses a results file whose
claimed polling station is not the registered one: results.json's ``station.polling_station`` is the station's own
word (its configuration), signed by its own key, so only the commission's register can say which polling station a
certified station reports for.

Two sources, both the verifier's, never the file's:

- ``load_register(path)``: what `station roll stations --json` prints at the commission (a JSON array of
  ``{"station": ID, "polling_station": CODE, ...}``), carried to the results centre or an auditor like
  commission.crt;
- ``home_register(config)``: the commission's own home (its database's ``package_targets``), when the verifier runs
  there; None for a home that registers no station (a station's, an auditor's) or has no database (none is made).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from station.errors import InvalidInput

Register = Mapping[str, str]  # station id -> polling station code


def parse_register(data: bytes | str, what: str = "the register of stations") -> dict[str, str]:
    """The register from `station roll stations --json` output; InvalidInput (one line) when it is not one."""
    try:
        rows = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        rows = None
    if not isinstance(rows, list):
        raise InvalidInput(f"{what} is not a register of stations (the JSON array `station roll stations --json` "
                           "prints at the commission)")
    register: dict[str, str] = {}
    for n, row in enumerate(rows, 1):
        station = row.get("station") if isinstance(row, dict) else None
        polling_station = row.get("polling_station") if isinstance(row, dict) else None
        if not isinstance(station, str) or not station or not isinstance(polling_station, str) or not polling_station:
            raise InvalidInput(f"{what}: entry {n} of the register of stations has no station and polling station")
        if register.setdefault(station, polling_station) != polling_station:
            raise InvalidInput(f"{what}: the register of stations lists station {station} at two polling stations "
                               f"({register[station]}, {polling_station})")
    return register


def load_register(path: str | Path) -> dict[str, str]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"register of stations {path}: {exc.strerror or exc}") from None
    return parse_register(data, f"register of stations {path}")


def home_register(config) -> dict[str, str] | None:
    """The register the home's own database holds (the commission's home); None when it registers no station or has
    no database. Read only: nothing is created or migrated."""
    from sqlalchemy import inspect, select
    from sqlalchemy.engine import make_url

    from station.db.engine import READ_ONLY, make_engine, make_sessionmaker
    from station.db.models import PackageTarget

    url = config.database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (not parsed.database or parsed.database == ":memory:"
                                                  or not Path(parsed.database).is_file()):
        return None
    engine = make_engine(url)
    try:
        if PackageTarget.__tablename__ not in inspect(engine).get_table_names():
            return None
        with make_sessionmaker(engine.execution_options(**{READ_ONLY: True}))() as session:
            rows = session.execute(select(PackageTarget.station_id, PackageTarget.polling_station)).all()
    finally:
        engine.dispose()
    return {station: polling_station for station, polling_station in rows} or None


def held_register(option: str | None, config) -> dict[str, str] | None:
    """The register the verifier holds: ``option`` (a `roll stations --json` file), else the home's own (the
    commission's home), else None (``config`` may be None)."""
    if option:
        return load_register(option)
    return home_register(config) if config is not None else None
