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
from tests.support.stations import (FACES, PASSWORDS, ROLL_SEED, ROLL_VOTERS, add_users, build_station,
                                    roll_templates_file)


def touches_a_database(item) -> bool:
    """Whether a test makes a database: its fixtures, followed to the end, reach `make_database_url` (the station
    fixtures, the central database, the servers and the command-line runs on a station all take theirs from it)."""
    return "make_database_url" in getattr(item, "fixturenames", ())


# Started before everything else: a module that keeps one worker busy for minutes (the 1:N registration run: its
# fingerprint captures and search in its module fixture) runs while the other worker takes the rest. Collected in place,
# near the end, it started when little was left and the other worker sat idle until it finished.
RUN_FIRST = ("tests/station/registration/test_registration_dedup.py",)


def pytest_collection_modifyitems(config, items):
    """The modules of RUN_FIRST go first (in their own order; with xdist, to one worker, their module fixture built
    once). When the tests run on PostgreSQL (STATION_TEST_DATABASE_URL): tests marked sqlite_only are not selected,
    and with STATION_TEST_DATABASE_ONLY=1 (make test's PostgreSQL pass) only the tests that touch a database are: no
    list to keep up to date, a new test file that makes a database runs on both. Except those marked
    sqlite_pass_only(why): the browser, the fuzzer and the authority's link, whose database work goes
    through services that other tests run on PostgreSQL (each marker names them), and which would double the pass's
    time. Deselected, not skipped: a skip would be a failure under STATION_REQUIRE_ALL=1."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in RUN_FIRST)  # stable: the order is kept otherwise
    if not os.environ.get("STATION_TEST_DATABASE_URL"):
        return
    only_databases = os.environ.get("STATION_TEST_DATABASE_ONLY") == "1"
    kept = [item for item in items if not item.get_closest_marker("sqlite_only")
            and (touches_a_database(item) and not item.get_closest_marker("sqlite_pass_only") or not only_databases)]
    if len(kept) < len(items):
        kept_ids = {id(item) for item in kept}
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept_ids])
        items[:] = kept


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


@pytest.fixture(scope="session", autouse=True)
def cached_synthetic_rolls():
    """Every synthetic roll a test builds in this process keeps its fingerprint references in .pytest_cache, one file
    per seed (`roll_templates_file`: a smaller roll holds the first people of a larger one of its seed; the name hashes
    the engine, the fingers, the resolution and the code and packages that decide the templates), so that a finger
    enrolled once - by another roll of the seed, a module fixture on the other worker, the PostgreSQL pass, the next
    run - is read instead of rendered and extracted again (half a second of CPU per finger). A caller that names its
    own file, or listens to the build's progress, is left as it asked."""
    original = Station.synthesize_roll

    def synthesize_roll(self, voters, seed, *, templates_file=None, progress=None, **kwargs):
        if templates_file is None and progress is None:
            templates_file = roll_templates_file(self, voters, seed)
        return original(self, voters, seed, templates_file=templates_file, progress=progress, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(Station, "synthesize_roll", synthesize_roll)
    yield
    patch.undo()


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
    add_users(st, PASSWORDS)
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


