"""The declarative base every station table derives from, and the clock its timestamps use. Every other module of
this package imports only this one, so the tables can be split by area without import circles."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import DeclarativeBase


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A stored time in UTC, with its offset: SQLite gives the times back naive (they are UTC, from ``utcnow``)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass
