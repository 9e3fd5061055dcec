"""Shared fixtures: a station built from the `test` profile with simulated devices, a synthetic roll and one user
per role, on a temporary SQLite database (or on PostgreSQL when STATION_TEST_DATABASE_URL names a server).

No silent skips: the hooks of tests/support/require.py turn any skip but a declared one (@pytest.mark.needs_root)
into a failure when STATION_REQUIRE_ALL=1 (`make test`), and count the skips at the end of the session."""
from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import pytest

from station.runtime import Station
from station.security.users import Principal
from tests.support.require import (pytest_make_collect_report, pytest_runtest_makereport,  # noqa: F401 (hooks)
                                   pytest_runtest_setup, pytest_terminal_summary)
from tests.support.stations import FACES, PASSWORDS, ROLL_SEED, ROLL_VOTERS, build_station, roll_templates_file


def pytest_collection_modifyitems(config, items):
    """Tests marked sqlite_only are not selected when the database tests run on PostgreSQL (not skipped: a skip would
    be a failure under STATION_REQUIRE_ALL=1)."""
    if not os.environ.get("STATION_TEST_DATABASE_URL"):
        return
    deselected = [item for item in items if item.get_closest_marker("sqlite_only")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("sqlite_only")]


def _fresh_postgres_url(base_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def make_database_url(tmp_path_factory):
    """A factory of empty databases: SQLite files, or fresh PostgreSQL databases on the configured server."""
    counter = itertools.count()
    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "main")  # also without xdist (-p no:xdist)
    base = os.environ.get("STATION_TEST_DATABASE_URL")

    def make() -> str:
        n = next(counter)
        if base:
            return _fresh_postgres_url(base, f"station_test_{worker_id}_{n}")
        return f"sqlite:///{tmp_path_factory.mktemp('db')}/station-{n}.db"

    return make


@pytest.fixture(scope="session")
def station_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("station-home")


@pytest.fixture(scope="session")
def station(station_home, make_database_url) -> Station:
    """One station per test worker, with a synthetic roll; tests take fresh voters from `voters`."""
    st = build_station(station_home, make_database_url())
    st.init()
    # the fingerprint references are built once for all test workers (the others wait on the file's lock), so the
    # builder may use both cores
    st.synthesize_roll(ROLL_VOTERS, ROLL_SEED, faces_dir=str(FACES) if FACES.is_dir() else None, workers=2,
                       templates_file=roll_templates_file(st))
    for username, (role, password) in PASSWORDS.items():
        st.accounts.add_user(username, password, role)
    yield st
    st.close()


class VoterPool:
    """Hands out voters of this station that no other test has used (ballots change them)."""

    def __init__(self, station: Station) -> None:
        here = station.roll.list_voters(polling_station=station.config.station.polling_station)
        self.with_face = [v for v in here if v.has_face]
        self._fresh = [v for v in here if not v.has_face]
        self._lock = threading.Lock()

    def take(self, *, face: bool = False):
        with self._lock:
            pool = self.with_face if face else self._fresh
            if not pool:  # a test suite that outgrew its roll: fail loudly, never skip a check silently
                pytest.fail(f"no unused voter left in the test roll: raise ROLL_VOTERS (now {ROLL_VOTERS})")
            return pool.pop(0)


@pytest.fixture(scope="session")
def voters(station) -> VoterPool:
    return VoterPool(station)


@pytest.fixture(scope="session")
def officer() -> Principal:
    return Principal("officer", "polling_officer")


@pytest.fixture(scope="session")
def presiding() -> Principal:
    return Principal("presiding", "presiding_officer")


@pytest.fixture(scope="session")
def app(station):
    from api import create_app

    return create_app(station)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def tokens(app) -> dict[str, str]:
    client = app.test_client()
    out = {}
    for username, (_, password) in PASSWORDS.items():
        out[username] = client.post("/api/auth/login", json={"username": username, "password": password}).json["token"]
    return out


