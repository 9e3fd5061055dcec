"""Opening a SQLite database that another process is writing: the first connection turns a new database to WAL,
which needs the exclusive lock. SQLite answers that request with "database is locked" at once, without its busy
timeout, while another connection holds the write lock (its deadlock rule), so two processes opening a new database
together (mergers on one central file, a station and its CLI) must not fail on it. CI met this failure."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from station.db.engine import make_engine


@pytest.mark.sqlite_only  # the subject is SQLite's own locking
def test_a_new_database_opens_in_wal_while_another_connection_holds_the_write_lock(tmp_path):
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")  # still in the rollback journal: nobody has turned it to WAL
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    release.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        started = time.monotonic()
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]
        assert time.monotonic() - started >= 0.4  # it waited for the writer, it did not skip the switch
    finally:
        release.join()
        engine.dispose()
        writer.close()
