"""Helpers of the Merkle-tree tests: a station whose certificate the test commission issued, entries appended to its
log, and the attacker who holds the database and the station key and rewrites the log's tail."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from station.audit import log as matchlog
from station.runtime import Station
from tests.support.pki import Commission
from tests.support.stations import build_station


def certified_station(home: Path, database_url: str, commission: Commission, **overrides) -> Station:
    """A fresh station (test profile) whose station.crt the test commission issued for its own log key."""
    st = build_station(home, database_url, **overrides)
    st.init()
    (st.config.keys_dir / "station.crt").write_bytes(commission.issue(st.log_signer.signing_key, st.config.station.id))
    return st


def append(st: Station, count: int, *, event: str = "identify", tag: str = "") -> None:
    """``count`` entries, each in its own transaction (as the station writes them)."""
    for n in range(count):
        with st.transaction() as s:
            matchlog.append(s, st.log_signer, event=event, operator="officer", outcome="IDENTIFIED",
                            session_id=f"session{tag}-{n}", cnic=f"8210{n % 10}-1234567-1",
                            details={"n": n, "tag": tag})


def cut_log_from(st: Station, seq: int, *, keep_checkpoints: bool = False) -> None:
    """The attacker (database file or owner's role, and the station key): delete entries seq.. (and, unless
    ``keep_checkpoints``, every stored checkpoint) behind the triggers' back, and move the chain's head to entry
    seq-1, so that the station appends a rewritten tail that chains and signs as if nothing happened."""
    head = "UPDATE log_head SET seq = {n}, hash = (SELECT hash FROM match_log WHERE seq = {n}) WHERE id = 1"
    if st.engine.dialect.name == "sqlite":
        conn = sqlite3.connect(make_url(st.config.database_url).database, isolation_level=None)
        try:
            conn.execute("DROP TRIGGER match_log_no_delete")
            conn.execute("DELETE FROM match_log WHERE seq >= ?", (seq,))
            conn.execute("CREATE TRIGGER match_log_no_delete BEFORE DELETE ON match_log "
                         "BEGIN SELECT RAISE(ABORT, 'match_log is append-only'); END")
            if not keep_checkpoints:
                conn.execute("DELETE FROM log_checkpoints")
            conn.execute(head.format(n=seq - 1))
        finally:
            conn.close()
    else:
        with st.engine.begin() as conn:
            conn.exec_driver_sql("GRANT DELETE ON match_log TO CURRENT_USER")
            conn.exec_driver_sql("ALTER TABLE match_log DISABLE TRIGGER USER")
            conn.exec_driver_sql(f"DELETE FROM match_log WHERE seq >= {int(seq)}")
            conn.exec_driver_sql("ALTER TABLE match_log ENABLE TRIGGER USER")
            conn.exec_driver_sql("REVOKE DELETE ON match_log FROM CURRENT_USER")
            if not keep_checkpoints:
                conn.exec_driver_sql("DELETE FROM log_checkpoints")
            conn.exec_driver_sql(head.format(n=seq - 1))


def read_qr(png: bytes) -> str:
    """What a polling agent's phone reads off a checkpoint's QR code (the PNG's bytes): OpenCV's two QR readers at a
    few scales, the first that decodes (one reader at one scale misses some codes a phone reads); '' when none does."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    for scale in (2, 3, 1, 4):
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
            text, _, _ = detector.detectAndDecode(big)
            if text:
                return text
    return ""
