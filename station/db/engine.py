"""Database engine, sessions and migrations. SQLite (WAL, full sync, foreign keys, recursive triggers) by default;
PostgreSQL through the same code (``station_engine`` refuses any other database)."""
from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from station.errors import ConfigError, StationError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


SQLITE, POSTGRESQL = "sqlite", "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)  # what the station's and the central schemas, migrations and tests run on
EXAMPLES = "sqlite:///PATH or postgresql+psycopg://user:password@host/dbname"
READ_ONLY = "station_read_only"  # execution option of the engine behind Station.read_transaction
BUSY_TIMEOUT_S = 30  # how long a SQLite connection waits for another's lock


def _turn_to_wal(cursor) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to the busy timeout. On a database still in the rollback journal the
    switch needs the exclusive lock, and SQLite refuses it at once ("database is locked", busy handler not called)
    while another connection holds the write lock: two processes opening a new database together must not fail."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def masked(url: str) -> str:
    """The URL without its password, for messages (one that does not parse: whatever stands between a ':' and an
    '@' is hidden, so a mistyped URL is shown without its password too)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r":[^:@/]*@", ":***@", url)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # Let SQLAlchemy's events manage transactions (pysqlite's own handling defers BEGIN).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            _turn_to_wal(cursor)
            cursor.execute("PRAGMA synchronous=FULL")  # a committed decision survives a power cut
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            # REPLACE deletes the row it replaces without firing delete triggers unless this is on: with it, the
            # match log's no-delete trigger refuses INSERT OR REPLACE too (doctor checks it is on).
            cursor.execute("PRAGMA recursive_triggers=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Take the write lock at the start: no deferred read-then-write upgrade that fails under concurrency.
            # A transaction that only reads (READ_ONLY below) begins deferred: under WAL it never waits for a writer
            # and no writer waits for it.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def checked_engine(url: str, *, setting: str, error: type[Exception], examples: str) -> Engine:
    """``make_engine`` for a URL a user gave: one that does not parse, a database other than SQLite or PostgreSQL,
    or a driver that is not installed is ``error`` naming ``setting`` (the password hidden) and ``examples``."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise error(f"{setting}: {masked(url)!r} is not a database URL (use {examples})") from None
    if backend not in BACKENDS:
        raise error(f"{setting}: {backend!r} databases are not supported (use {examples})")
    try:
        return make_engine(url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise error(f"{setting}: {masked(url)} cannot be used ({exc}); use {examples}") from None


def station_engine(url: str, *, setting: str = "database.url") -> Engine:
    """``checked_engine`` for a station's database: a ConfigError."""
    return checked_engine(url, setting=setting, error=ConfigError, examples=EXAMPLES)


class DatabaseUnreachable(StationError):
    """The station's database did not answer (a server down or refusing us, a file that cannot be opened)."""


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")


def schema_status(engine: Engine) -> tuple[str | None, str]:
    """(current revision, head revision)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head


def _sqlite_file_missing(engine: Engine) -> bool:
    """A SQLite database file that is not there yet: connecting would create it (and switch it to WAL)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" or url.query.get("uri"):
        return False
    return not Path(url.database).exists()


def has_schema(engine: Engine) -> bool:
    """Whether the station's tables are there; never creates the database (only `station init` and `demo` do).
    DatabaseUnreachable when it cannot tell: a server that does not answer is not a station never initialised."""
    if _sqlite_file_missing(engine):
        return False
    try:
        return "voters" in inspect(engine).get_table_names()
    except OperationalError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnreachable(f"cannot reach the database {masked(engine.url.render_as_string())}: "
                                  f"{reason}") from None
