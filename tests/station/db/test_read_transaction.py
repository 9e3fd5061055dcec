"""Station.read_transaction: a transaction that only reads neither waits for a writer nor makes one wait (on SQLite
every other transaction takes the write lock when it begins: BEGIN IMMEDIATE). Roll packages are built in one, so
that several workers build side by side (station/national/packages.py)."""
from __future__ import annotations

import threading
import time

from sqlalchemy import text

from tests.support.stations import build_station


def test_a_reader_neither_waits_for_a_writer_nor_blocks_one(tmp_path, make_database_url):
    st = build_station(tmp_path / "home", make_database_url())
    st.init()
    try:
        done = {}
        with st.transaction() as writer:  # holds the write lock (SQLite) until the block ends
            writer.execute(text("UPDATE station_meta SET value = value WHERE key = 'nothing'"))

            def read():
                with st.read_transaction() as reader:
                    done["rows"] = reader.execute(text("SELECT count(*) FROM station_meta")).scalar()
                    with st.transaction() as second_writer:  # and a writer does not wait for the open reader
                        second_writer.execute(text("SELECT 1"))
                        done["wrote"] = True

            reader_thread = threading.Thread(target=lambda: done.setdefault("read", read()), daemon=True)
            started = time.monotonic()
            reader_thread.start()
            reader_thread.join(timeout=5)
            assert "rows" in done, "the read transaction waited for the writer"
        reader_thread.join(timeout=35)
        assert done.get("wrote") and time.monotonic() - started < 30
    finally:
        st.close()


def test_a_read_transaction_writes_nothing(tmp_path, make_database_url):
    st = build_station(tmp_path / "home", make_database_url())
    st.init()
    try:
        with st.read_transaction() as s:
            s.execute(text("INSERT INTO station_meta (key, value) VALUES ('left', 'behind')"))
        with st.transaction() as s:
            assert s.execute(text("SELECT count(*) FROM station_meta WHERE key = 'left'")).scalar() == 0
    finally:
        st.close()
