"""Preparing a demo station: keys, schema, a synthetic roll and one user per role."""
from __future__ import annotations

from typing import Callable

from station.errors import Conflict, StationError

DEMO_USERS = (
    ("officer", "officer-demo-pass", "polling_officer"),
    ("presiding", "presiding-demo-pass", "presiding_officer"),
    ("tech", "tech-demo-pass", "technician"),
    ("auditor", "auditor-demo-pass", "auditor"),
    ("clerk", "clerk-demo-pass", "registration_officer"),
    ("registrar", "registrar-demo-pass", "registrar"),
)


def prepare_demo(station, *, voters: int, seed: int, faces_dir: str | None, echo: Callable[[str], None]) -> tuple:
    if not station.config.devices.simulation_api:
        raise StationError("the demo needs the simulated profile (demo logins are fixed and public)")
    station.init()
    for username, password, role in DEMO_USERS:
        try:
            station.accounts.add_user(username, password, role)
        except Conflict:
            pass
    if not station.roll.list_voters(limit=1):
        echo(f"building a synthetic roll of {voters} voters (seed {seed}); this takes a minute or two ...")
        echo(str(station.synthesize_roll(voters, seed, faces_dir=faces_dir)))
    if not faces_dir:
        echo("face fallback: off (no labelled photos given; run `station demo --faces DIR` on a fresh home to enable it)")
    return DEMO_USERS
