"""The database side of a backup: a consistent read snapshot that does not block writers, the payload's record
stream (JSON lines), and loading rows back in foreign-key order.

    payload (plaintext, one JSON object per line)
      {"t": "begin", "station": ..., "schema_revision": ...}
      {"t": "file", "path": "keys/template.key", "data": <base64>}      STATION_HOME files (keys, audit, settings)
      {"t": "table", "name": "voters", "columns": [["id", "int"], ["voted_at", "datetime"], ...]}
      {"t": "rows", "rows": [[...], ...]}                                up to ROWS_PER_RECORD rows of that table
      {"t": "end", "tables": {"voters": 500, ...}, "files": 9}

Snapshot. SQLite: a second engine whose transactions begin DEFERRED (the station's own engine begins IMMEDIATE,
which would take the write lock); in WAL mode a read transaction sees one snapshot from its first read to its end
and writers go on committing. PostgreSQL (and others): REPEATABLE READ, READ ONLY.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import json
import logging
import uuid
from typing import Any, Callable, Iterator

from sqlalchemy import Table, create_engine, event, inspect, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

ROWS_PER_RECORD = 500
IGNORED_TABLES = {"alembic_version"}


@contextlib.contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction over the whole database, consistent and not blocking writers."""
    if engine.dialect.name == "sqlite":
        snap = create_engine(engine.url, poolclass=NullPool,
                             connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(snap, "connect")
        def _pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # SQLAlchemy's events manage the transaction
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA query_only=1")
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            cursor.close()
            if mode != "wal":
                log.warning("database in %s journal mode: the backup's read lock holds writers back", mode)

        @event.listens_for(snap, "begin")
        def _deferred(conn):
            conn.exec_driver_sql("BEGIN DEFERRED")

        try:
            with snap.connect() as conn, conn.begin():
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()  # the snapshot starts here
                yield conn
        finally:
            snap.dispose()
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.execute(text("SELECT 1")).scalar()  # PostgreSQL takes the snapshot at the first statement
            yield conn


def schema_revision(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def unknown_tables(conn: Connection, tables: list[Table]) -> list[str]:
    """Tables in the database that the models do not declare (a backup would silently miss them)."""
    known = {t.name for t in tables} | IGNORED_TABLES
    return sorted(set(inspect(conn).get_table_names()) - known)


def reflected_tables(conn: Connection, names: list[str]) -> list[Table]:
    """The named tables as the database describes them, in foreign-key order."""
    from sqlalchemy import MetaData

    metadata = MetaData()
    metadata.reflect(bind=conn, only=names)
    return [t for t in metadata.sorted_tables if t.name in names]


# --- values ---

def column_kind(column_type: Any) -> str:
    if isinstance(column_type, sqltypes.Boolean):
        return "bool"
    if isinstance(column_type, sqltypes.Integer):
        return "int"
    if isinstance(column_type, sqltypes.Float):
        return "float"
    if isinstance(column_type, sqltypes.Numeric):
        return "decimal"
    if isinstance(column_type, sqltypes.LargeBinary):
        return "bytes"
    if isinstance(column_type, sqltypes.DateTime):
        return "datetime"
    if isinstance(column_type, sqltypes.Date):
        return "date"
    if isinstance(column_type, sqltypes.Time):
        return "time"
    if isinstance(column_type, sqltypes.JSON):
        return "json"
    if isinstance(column_type, sqltypes.Uuid):
        return "uuid"
    if isinstance(column_type, (sqltypes.String, sqltypes.Enum)):
        return "str"
    raise TypeError(f"column type {column_type!r} has no backup encoding")


def _encoder(kind: str) -> Callable[[Any], Any]:
    if kind == "bytes":
        return lambda v: base64.b64encode(bytes(v)).decode()
    if kind in ("datetime", "date", "time"):
        return lambda v: v.isoformat()
    if kind in ("decimal", "uuid"):
        return str
    return lambda v: v


def _decoder(kind: str, dialect: str, timezone: bool) -> Callable[[Any], Any]:
    if kind == "bytes":
        return base64.b64decode
    if kind == "datetime":
        def when(v: str) -> dt.datetime:
            value = dt.datetime.fromisoformat(v)
            if dialect == "sqlite" and value.tzinfo is not None:
                return value.astimezone(dt.timezone.utc)  # SQLite keeps UTC wall time, as the station writes it
            if dialect != "sqlite" and timezone and value.tzinfo is None:
                return value.replace(tzinfo=dt.timezone.utc)  # a SQLite backup holds UTC wall time
            return value
        return when
    if kind == "date":
        return dt.date.fromisoformat
    if kind == "time":
        return dt.time.fromisoformat
    if kind == "decimal":
        return decimal.Decimal
    if kind == "uuid":
        return uuid.UUID
    return lambda v: v


def _line(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def table_records(conn: Connection, table: Table) -> Iterator[tuple[bytes, int]]:
    """The table's header record and row records in primary-key order; yields (line, rows in it)."""
    columns = list(table.columns)
    kinds = [column_kind(c.type) for c in columns]
    yield _line({"t": "table", "name": table.name, "columns": [[c.name, k] for c, k in zip(columns, kinds)]}), 0
    encoders = [_encoder(k) for k in kinds]
    query = select(*columns).order_by(*table.primary_key.columns)
    result = conn.execution_options(stream_results=True, yield_per=ROWS_PER_RECORD).execute(query)
    for batch in result.partitions(ROWS_PER_RECORD):
        rows = [[None if v is None else enc(v) for enc, v in zip(encoders, row)] for row in batch]
        yield _line({"t": "rows", "rows": rows}), len(rows)


def begin_record(station: str, revision: str | None) -> bytes:
    return _line({"t": "begin", "station": station, "schema_revision": revision})


def file_record(path: str, data: bytes) -> bytes:
    return _line({"t": "file", "path": path, "data": base64.b64encode(data).decode()})


def end_record(tables: dict[str, int], files: int) -> bytes:
    return _line({"t": "end", "tables": tables, "files": files})


# --- reading the payload back ---

def records(pieces: Iterator[bytes]) -> Iterator[dict]:
    """Split the decrypted payload into JSON records."""
    pending = b""
    for piece in pieces:
        pending += piece
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield _parse(line)
    if pending:
        yield _parse(pending)


def _parse(line: bytes) -> dict:
    from station.backup.format import BackupRejected

    try:
        record = json.loads(line)
        if not isinstance(record, dict) or "t" not in record:
            raise ValueError("not a record")
        return record
    except ValueError as exc:
        raise BackupRejected(f"the payload holds a malformed record ({exc})") from None


class RowDecoder:
    """Turns a table's row records back into column dicts for an INSERT on the target dialect."""

    def __init__(self, columns: list[list[str]], target: Table, dialect: str) -> None:
        self.names = [name for name, _ in columns]
        self._decoders = [_decoder(kind, dialect, bool(getattr(target.c[name].type, "timezone", False)))
                          for name, kind in columns]

    def decode(self, rows: list[list]) -> list[dict]:
        return [{name: None if v is None else dec(v) for name, dec, v in zip(self.names, self._decoders, row)}
                for row in rows]


def insert_rows(conn: Connection, table: Table, decoder: RowDecoder, rows: list[list]) -> None:
    if rows:
        conn.execute(table.insert(), decoder.decode(rows))


def advance_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL: rows came with their ids; move each serial/identity sequence past the largest one."""
    if conn.dialect.name != "postgresql":
        return
    from sqlalchemy import func

    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, sqltypes.Integer):
            continue
        sequence = conn.execute(select(func.pg_get_serial_sequence(table.name, pk[0].name))).scalar()
        if sequence:
            top = conn.execute(select(func.coalesce(func.max(pk[0]), 0))).scalar()
            conn.execute(select(func.setval(sequence, top + 1, False)))
