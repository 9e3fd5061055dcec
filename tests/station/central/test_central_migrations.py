"""The central schema's own Alembic migrations: an empty database upgraded to the newest revision holds exactly the
tables and indexes of station/central/models.py (on SQLite, and on PostgreSQL with its partitions when
STATION_TEST_DATABASE_URL names a server); its revision is kept apart from the station's; a version-1 database
made by create_all before the migrations is refused, not written to."""
from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from station.central.db import MIGRATIONS, CentralDatabase
from station.central.errors import CentralDatabaseError
from station.central.models import SCHEMA_VERSION, VERSION_TABLE, CentralBase, CentralMeta

PARTITION = re.compile(r"^central_\w+_p\d\d$")


def _ours(name, type_, parent_names) -> bool:
    """What the comparison looks at: not Alembic's version table, not PostgreSQL's partitions of a table."""
    return not (type_ == "table" and (name == VERSION_TABLE or PARTITION.match(name or "")))


def test_an_empty_database_upgrades_to_the_models_schema(make_database_url):
    database = CentralDatabase(make_database_url()).open()
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": _ours,
                                                                   "version_table": VERSION_TABLE})
            assert compare_metadata(context, CentralBase.metadata) == []
            assert context.get_current_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
            tables = set(inspect(connection).get_table_names())
            assert {t.name for t in CentralBase.metadata.sorted_tables} <= tables
            assert "alembic_version" not in tables  # the station's version table: not the central schema's
        with database.transaction() as s:
            assert s.scalar(select(CentralMeta.value).where(CentralMeta.key == "schema_version")) == SCHEMA_VERSION
    finally:
        database.close()
    CentralDatabase(database.url).open().close()  # a second open finds the newest revision and changes nothing


def test_the_comparison_sees_a_schema_that_differs(make_database_url):
    """The test above can fail: an index dropped behind the migrations' back is a difference."""
    database = CentralDatabase(make_database_url()).open()
    try:
        with database.engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_central_imports_polling_station"))
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": _ours})
            diff = compare_metadata(context, CentralBase.metadata)
        assert [d[0] for d in diff] == ["add_index"] and diff[0][1].name == "ix_central_imports_polling_station"
    finally:
        database.close()


def test_a_database_made_before_the_migrations_is_refused(make_database_url):
    url = make_database_url()
    engine = create_engine(url)
    with engine.begin() as connection:  # what version 1 left: create_all and its version row, no Alembic table
        CentralMeta.__table__.create(connection)
        connection.execute(CentralMeta.__table__.insert(), [{"key": "schema_version", "value": "1"}])
    engine.dispose()
    with pytest.raises(CentralDatabaseError, match="schema version 1; this program writes version 3"):
        CentralDatabase(url).open()
    engine = create_engine(url)
    with engine.connect() as connection:
        assert inspect(connection).get_table_names() == ["central_meta"]  # nothing was added
    engine.dispose()


def _open(url: str) -> str:
    with CentralDatabase(url).open() as database, database.transaction() as s:
        return s.scalar(select(CentralMeta.value).where(CentralMeta.key == "schema_version"))


def test_mergers_opening_an_empty_database_at_once_migrate_it_once(make_database_url):
    url = make_database_url()
    with ProcessPoolExecutor(max_workers=3, mp_context=get_context("spawn")) as pool:
        assert list(pool.map(_open, [url] * 3)) == [SCHEMA_VERSION] * 3


def test_a_mistyped_url_is_refused_without_its_password():
    from station.central.db import CentralDatabase, CentralDatabaseError

    with pytest.raises(CentralDatabaseError) as refused:
        CentralDatabase("postgresql//user:SECRETPW2@127.0.0.1:1/x")  # "://" mistyped: not a URL
    assert "SECRETPW2" not in str(refused.value) and "user:***@127.0.0.1" in str(refused.value)
