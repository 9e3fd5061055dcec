"""What a service receives to talk to the database: a factory of short transactions.

``runtime.Station.transaction`` is the one implementation (it also writes a log checkpoint after a commit that
crossed ``audit.checkpoint_every``); services take it as a constructor argument and never build sessions themselves.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

from sqlalchemy.orm import Session

TransactionFactory = Callable[[], AbstractContextManager[Session]]
