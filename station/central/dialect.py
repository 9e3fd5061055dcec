"""The one place that knows which database the central store runs on, and what differs between them.

PostgreSQL (production) and SQLite (tests, a laptop) run the same code. What differs at run time, all decided here:

- the ``INSERT ... ON CONFLICT`` builder (SQLAlchemy's PostgreSQL or SQLite dialect: the same statements);
- bulk loading: PostgreSQL copies a file's rows into a temporary staging table with ``COPY`` and inserts from it;
  SQLite sends them as multi-row ``INSERT`` statements;
- migrations: concurrent openers of one PostgreSQL database serialise its migration on an advisory lock.
The schema's own difference, the two big tables (ballots, verification sessions) partitioned by HASH of the station
id on PostgreSQL, is in the models (``postgresql_partition_by``) and the migration that makes the partitions.
"""
from __future__ import annotations

import zlib
from typing import Sequence

from sqlalchemy import column, table as table_clause, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from station.central.errors import CentralDatabaseError
from station.db.engine import BACKENDS, POSTGRESQL

MIGRATION_LOCK = 0x63656E7472616C  # pg_advisory_xact_lock key of the central schema's migration ("central")
_STAGE_PREFIX = "central_stage_"  # temporary tables, one per loaded table and connection


def name_of(bind: Session | Connection | Engine) -> str:
    """The dialect's name, refused unless PostgreSQL or SQLite."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    name = bind.dialect.name
    if name not in BACKENDS:
        raise CentralDatabaseError(f"the central store runs on PostgreSQL or SQLite, not {name}")
    return name


def is_postgresql(bind: Session | Connection | Engine) -> bool:
    return name_of(bind) == POSTGRESQL


def insert(bind: Session | Connection | Engine, table):
    """``INSERT`` with ``on_conflict_do_nothing``/``on_conflict_do_update`` for this dialect."""
    if is_postgresql(bind):
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)



def lock_schema(connection: Connection) -> None:
    """Serialise migrations of one database: PostgreSQL takes a transaction-level advisory lock, so concurrent
    mergers opening an empty database migrate it once (SQLite's BEGIN IMMEDIATE already holds the write lock)."""
    if is_postgresql(connection):
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def staged(session: Session, table, rows: Sequence[dict], columns: Sequence[str]):
    """On PostgreSQL: ``rows`` copied with ``COPY ... FROM STDIN`` (psycopg 3's ``cursor.copy``) into a temporary
    staging table shaped like ``table`` (made once per connection, emptied at each commit), returned as a selectable
    to insert from. On SQLite: None (the caller sends the rows as multi-row INSERT statements)."""
    if not is_postgresql(session):
        return None
    quoted = ", ".join(f'"{c}"' for c in columns)
    # named by table and columns: the staging table has exactly these columns, with their types and no constraint
    stage = f"{_STAGE_PREFIX}{table.name}_{zlib.crc32(quoted.encode()):08x}"
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                       f"SELECT {quoted} FROM {table.name} WITH NO DATA")
        with cursor.copy(f"COPY {stage} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    return table_clause(stage, *(column(c) for c in columns))
