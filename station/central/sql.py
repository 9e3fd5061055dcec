"""Inserts that lean on unique constraints instead of read-then-write, so that two merges running at once can never
insert a row twice: ``INSERT ... ON CONFLICT`` through SQLAlchemy's PostgreSQL and SQLite dialects (one statement
builder, the same for both). On PostgreSQL a concurrent insert of the same key waits for the other transaction and
then does nothing (or updates), instead of failing or duplicating.

On PostgreSQL the rows are first copied into a temporary staging table with ``COPY`` and inserted from it in one
``INSERT ... SELECT ... ON CONFLICT``; on SQLite they go as multi-row INSERTs (``dialect.staged``). Rows are sent in
key order, so two transactions inserting overlapping keys (two stations' files listing the same polling scheme) take
their row locks in the same order and wait for each other instead of deadlocking."""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import Table, and_, or_
from sqlalchemy.orm import Session

from station.central import dialect


def _in_key_order(rows: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    return sorted(rows, key=lambda row: tuple(row[k] for k in keys))


def _source(session: Session, table: Table, rows: list[dict]):
    """The INSERT and where its rows come from: a COPY-loaded staging table (PostgreSQL), or the rows themselves."""
    columns = list(rows[0])
    stage = dialect.staged(session, table, rows, columns)
    statement = dialect.insert(session, table)
    if stage is None:
        return statement, rows
    return statement.from_select(columns, stage.select()), None


def _written(session: Session, statement, table: Table, rows: list[dict] | None, keys: Sequence[str]) -> int:
    """Run one statement (from the staging table, or for all rows: SQLAlchemy batches them as multi-row INSERTs,
    "insertmanyvalues") and count the rows it wrote. RETURNING, not rowcount: drivers disagree on rowcount here
    (psycopg reports -1)."""
    statement = statement.returning(*(table.c[k] for k in keys))
    return len(session.execute(statement, rows).all() if rows is not None else session.execute(statement).all())


def insert_ignoring_duplicates(session: Session, table: Table, rows: Sequence[dict], keys: Sequence[str]) -> int:
    """Insert the rows whose natural key (``keys``, a unique constraint) is new; returns how many were inserted."""
    if not rows:
        return 0
    rows = _in_key_order(rows, keys)
    statement, values = _source(session, table, rows)
    return _written(session, statement.on_conflict_do_nothing(index_elements=list(keys)), table, values, keys)


def upsert_newer(session: Session, table: Table, rows: Sequence[dict], keys: Sequence[str], newer: str,
                 unchanged: Sequence[str] = ("import_id",)) -> int:
    """Insert new rows; update an existing row only when the incoming one comes from a later file (its ``newer``
    column, the export time) and differs in some column other than ``newer`` and ``unchanged`` (so an older file
    never undoes a newer one, and a row that did not change is not rewritten). Returns rows inserted or updated."""
    if not rows:
        return 0
    rows = _in_key_order(rows, keys)
    statement, values = _source(session, table, rows)
    excluded = statement.excluded
    columns = [c for c in rows[0] if c not in keys]
    compared = [c for c in columns if c != newer and c not in unchanged]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: excluded[c] for c in columns},
        where=and_(table.c[newer] < excluded[newer], or_(*(table.c[c].is_distinct_from(excluded[c]) for c in compared))))
    return _written(session, statement, table, values, keys)
