"""Opening the central database: PostgreSQL in production, SQLite accepted (tests, a laptop). The same SQLAlchemy
code runs on both; the schema is created on first use with ``metadata.create_all`` and stamped with a
schema-version row, and a database stamped with another version is refused rather than written to."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from station.db import engine as station_db
from station.central.errors import CentralDatabaseError
from station.central.models import SCHEMA_VERSION, CentralBase, CentralMeta
from station.central.sql import insert_ignoring_duplicates

log = logging.getLogger(__name__)

SUPPORTED_DIALECTS = ("postgresql", "sqlite")
EXAMPLE_URLS = "postgresql+psycopg://user:password@host/dbname or sqlite:///central.db"


def masked(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else exc.__class__.__name__


class CentralDatabase:
    """The central database's engine and sessions. Nothing is opened until ``open()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            dialect = make_url(url).get_backend_name()
        except ArgumentError:
            raise CentralDatabaseError(f"--db: {url!r} is not a database URL (use {EXAMPLE_URLS})") from None
        if dialect not in SUPPORTED_DIALECTS:
            raise CentralDatabaseError(f"--db: {dialect!r} databases are not supported for the central store "
                                       f"(use {EXAMPLE_URLS})")
        try:
            self.engine = station_db.make_engine(url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise CentralDatabaseError(f"--db {masked(url)}: {exc}") from None
        self.sessions = station_db.make_sessionmaker(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def open(self) -> "CentralDatabase":
        """Connect, create the central tables if absent and check the schema version."""
        try:
            CentralBase.metadata.create_all(self.engine)
            with self.transaction() as s:
                insert_ignoring_duplicates(s, CentralMeta.__table__, [{"key": "schema_version",
                                                                       "value": SCHEMA_VERSION}], ["key"])
                version = s.scalar(select(CentralMeta.value).where(CentralMeta.key == "schema_version"))
        except DBAPIError as exc:
            raise CentralDatabaseError(f"cannot use the central database {masked(self.url)}: {_reason(exc)}") from None
        if version != SCHEMA_VERSION:
            raise CentralDatabaseError(f"the central database {masked(self.url)} has schema version {version}; this "
                                       f"program writes version {SCHEMA_VERSION}")
        log.info("central database %s open (schema version %s)", masked(self.url), version)
        return self

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
