"""Opening the central database: PostgreSQL in production, SQLite accepted (tests, a laptop). The same SQLAlchemy
code runs on both (what differs is in ``dialect.py``). The schema is made and upgraded on first use by the central
schema's own Alembic migrations (``migrations/``, revision in ``central_alembic_version``), once even when several
mergers open an empty database at the same moment; a database stamped with another schema version (a version-1
database made by ``create_all`` before the migrations, or a newer one) is refused rather than written to."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from station.db import engine as station_db
from station.db.engine import masked
from station.central import dialect
from station.central.errors import CentralDatabaseError
from station.central.models import SCHEMA_VERSION, VERSION_TABLE, CentralMeta

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
EXAMPLE_URLS = "postgresql+psycopg://user:password@host/dbname or sqlite:///central.db"


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else exc.__class__.__name__


class CentralDatabase:
    """The central database's engine and sessions. Nothing is opened until ``open()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = station_db.checked_engine(url, setting="--db", error=CentralDatabaseError, examples=EXAMPLE_URLS)
        self.sessions = station_db.make_sessionmaker(self.engine)

    def open(self) -> "CentralDatabase":
        """Connect, bring the central schema to the newest migration and check its version."""
        from alembic.util import CommandError

        try:
            with self.engine.begin() as connection:
                dialect.lock_schema(connection)
                version = _unmigrated_version(connection)
                if version is None:
                    upgrade(connection)
            if version is None:
                with self.transaction() as s:
                    version = s.scalar(select(CentralMeta.value).where(CentralMeta.key == "schema_version"))
        except CommandError as exc:  # a revision this program does not know: a newer program made the database
            raise CentralDatabaseError(f"the central database {masked(self.url)} holds a schema this program does "
                                       f"not know ({exc})") from None
        except DBAPIError as exc:
            raise CentralDatabaseError(f"cannot use the central database {masked(self.url)}: {_reason(exc)}") from None
        if version != SCHEMA_VERSION:
            raise CentralDatabaseError(f"the central database {masked(self.url)} has schema version {version}; this "
                                       f"program writes version {SCHEMA_VERSION}")
        log.info("central database %s open (schema version %s)", masked(self.url), version)
        return self

    @property
    def dialect(self) -> str:
        return dialect.name_of(self.engine)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "CentralDatabase":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def _alembic_config(connection: Connection):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """The central schema at the newest migration (or ``revision``), in the caller's transaction."""
    from alembic import command

    command.upgrade(_alembic_config(connection), revision)


def _unmigrated_version(connection: Connection) -> str | None:
    """The schema version of a central database made before the migrations (``create_all``, version 1), which they
    do not convert; None for a database the migrations manage or may create."""
    tables = inspect(connection)
    if not tables.has_table(CentralMeta.__tablename__) or tables.has_table(VERSION_TABLE):
        return None
    return connection.scalar(select(CentralMeta.value).where(CentralMeta.key == "schema_version")) or "unknown"
