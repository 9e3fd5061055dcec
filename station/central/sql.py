"""Inserts that lean on unique constraints instead of read-then-write, so that two merges running at once can never
insert a row twice: ``INSERT ... ON CONFLICT`` through SQLAlchemy's PostgreSQL and SQLite dialects (one statement
builder, the same for both). On PostgreSQL a concurrent insert of the same key waits for the other transaction and
then does nothing (or updates), instead of failing or duplicating."""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import Table, and_, or_
from sqlalchemy.orm import Session

from station.central.errors import CentralDatabaseError



def _insert(session: Session, table: Table):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise CentralDatabaseError(f"the central store runs on PostgreSQL or SQLite, not {dialect}")
    return insert(table)


def _written(session: Session, statement, table: Table, rows: Sequence[dict], keys: Sequence[str]) -> int:
    """Run one statement for all rows (SQLAlchemy batches them as multi-row INSERTs: "insertmanyvalues") and count
    the rows it wrote. RETURNING, not rowcount: drivers disagree on rowcount here (psycopg reports -1)."""
    if not rows:
        return 0
    return len(session.execute(statement.returning(*(table.c[k] for k in keys)), list(rows)).all())


def insert_ignoring_duplicates(session: Session, table: Table, rows: Sequence[dict], keys: Sequence[str]) -> int:
    """Insert the rows whose natural key (``keys``, a unique constraint) is new; returns how many were inserted."""
    statement = _insert(session, table).on_conflict_do_nothing(index_elements=list(keys))
    return _written(session, statement, table, rows, keys)


def upsert_newer(session: Session, table: Table, rows: Sequence[dict], keys: Sequence[str], newer: str,
                 unchanged: Sequence[str] = ("import_id",)) -> int:
    """Insert new rows; update an existing row only when the incoming one comes from a later file (its ``newer``
    column, the export time) and differs in some column other than ``newer`` and ``unchanged`` (so an older file
    never undoes a newer one, and a row that did not change is not rewritten). Returns rows inserted or updated."""
    if not rows:
        return 0
    statement = _insert(session, table)
    excluded = statement.excluded
    columns = [c for c in rows[0] if c not in keys]
    compared = [c for c in columns if c != newer and c not in unchanged]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: excluded[c] for c in columns},
        where=and_(table.c[newer] < excluded[newer], or_(*(table.c[c].is_distinct_from(excluded[c]) for c in compared))))
    return _written(session, statement, table, rows, keys)
