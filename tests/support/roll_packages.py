"""A commission station and the stations it sends roll packages to, for the package and cross-station tests."""
from __future__ import annotations

from pathlib import Path

from station.packages.crypto import create_commission_key, create_package_key, load_commission_key, load_package_key, public_pem
from station.packages.targets import add_target
from station.packages.verify import install_trust
from station.roll.changes import start_revisions
from station.runtime import Station
from tests.support.stations import build_station


def commission_station(home: Path, database_url: str, voters: int, seed: int = 21) -> Station:
    """The commission: a synthetic master roll of ``voters``, its package-signing key, revisions started."""
    st = build_station(home, database_url, station={"id": "COMMISSION"})
    st.init()
    st.synthesize_roll(voters, seed, workers=1)
    create_commission_key(st.config.keys_dir)
    with st.transaction() as s:
        start_revisions(s)
    return st


def registered_station(commission: Station, home: Path, database_url: str, station_id: str, polling_station: str, *,
                       trust: bool = True, **overrides) -> Station:
    """A fresh station with its package key registered at the commission as a target (and, with ``trust``, trusting
    the commission's signing key)."""
    st = build_station(home, database_url, station={"id": station_id, "polling_station": polling_station}, **overrides)
    st.init()
    create_package_key(st.config.keys_dir)
    if trust:
        install_trust(st.config, public_pem(load_commission_key(commission.config.keys_dir).public_key()))
    with commission.transaction() as s:
        add_target(s, station_id, polling_station, load_package_key(st.config.keys_dir).public_key(), replace=True)
    return st
