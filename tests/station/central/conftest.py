"""The central database every test of this room merges into (a fresh one per test, SQLite or the pass's
PostgreSQL)."""
import pytest

from station.central.db import CentralDatabase


@pytest.fixture
def central_db(make_database_url):
    database = CentralDatabase(make_database_url()).open()
    yield database
    database.close()
