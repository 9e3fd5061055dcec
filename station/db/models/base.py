"""The declarative base every station table derives from, and the clock its timestamps use. Every other module of
this package imports only this one, so the tables can be split by area without import circles."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import DeclarativeBase


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass
