"""The log's rows are what was signed (issue 16, item 3). An attacker with a copy of ``station.db`` (or the database
owner's role on PostgreSQL) plants each attack on a station's real database; the station refuses it or `doctor` and
the live-log verification name the entry and the column (or the trigger) that changed.

Runs on SQLite and, under ``make test``'s second pass, on PostgreSQL. The attacks through the attacker's own
``sqlite3`` (no station connection hooks, so no ``recursive_triggers``) are SQLite-only by nature; on PostgreSQL the
same attack is the owner's: grant itself UPDATE, disable the append-only trigger, change the row, put both back."""
import json
import sqlite3

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from station.audit import integrity
from station.audit import log as matchlog
from station.authority.notes import note_for
from station.cli.main import main
from station.db.models import MatchLogEntry
from station.security.users import Principal
from tests.support.stations import build_station

pytestmark = pytest.mark.slow

COLUMNS = [c.name for c in MatchLogEntry.__table__.columns]
SQLITE_TRIGGERS = ("match_log_no_update", "match_log_no_delete")
SQLITE_TRIGGER_SQL = ("CREATE TRIGGER {name} BEFORE {action} ON match_log "
                      "BEGIN SELECT RAISE(ABORT, 'match_log is append-only'); END")


@pytest.fixture
def st(tmp_path, make_database_url):
    """A station of its own with a few log entries (each test tampers with its database)."""
    station = build_station(tmp_path / "home", make_database_url())
    station.init()
    with station.transaction() as s:
        for n in range(1, 5):
            matchlog.append(s, station.log_signer, event="fingerprint_attempt", operator="officer",
                            outcome="no_match", session_id=f"session-{n}", cnic=f"8200{n}-000000{n}-1",
                            modality="fingerprint", position="right_thumb", device_id="sim:SIM-FP-0001", attempt=1,
                            score=12.5, threshold=40.0, quality=48, details={"nfiq2": 48})
        matchlog.append(s, station.log_signer, event="exception", operator="presiding", outcome="EXCEPTION",
                        session_id="session-4", cnic="82004-0000004-1", details={"reason": "worn_prints"})
        matchlog.append(s, station.log_signer, event="authority_answer", operator="officer", outcome="deceased",
                        session_id="session-1", cnic="82001-0000001-1",
                        details={"kind": "cnic_status", "flag": "warning"})
    yield station
    station.close()


def dialect(st) -> str:
    return st.engine.dialect.name


def checks(st) -> dict[str, tuple[bool, str]]:
    return {name: (ok, detail) for name, ok, detail in st.doctor()}


def attacker_sqlite(st) -> sqlite3.Connection:
    """The attacker's own sqlite3 on the station's file: none of the station's connection hooks."""
    conn = sqlite3.connect(make_url(st.config.database_url).database, isolation_level=None)
    assert conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 0
    return conn


def replace_sql(dialect_name: str, column: str, value: str) -> str:
    """Re-insert entry 2 over itself with one column changed: SQLite's REPLACE, PostgreSQL's upsert."""
    chosen = ", ".join(f"'{value}'" if c == column else c for c in COLUMNS)
    insert = f"INSERT INTO match_log ({', '.join(COLUMNS)}) SELECT {chosen} FROM match_log WHERE seq = 2"
    if dialect_name == "sqlite":
        return insert.replace("INSERT INTO", "INSERT OR REPLACE INTO", 1)
    return insert + f" ON CONFLICT (seq) DO UPDATE SET {column} = EXCLUDED.{column}"


def as_owner_without_trigger(st, statement: str) -> None:
    """PostgreSQL: what the table's owner can do - take UPDATE back, disable the trigger, write, cover the tracks."""
    with st.engine.begin() as conn:
        conn.exec_driver_sql("GRANT UPDATE, DELETE ON match_log TO CURRENT_USER")
        conn.exec_driver_sql("ALTER TABLE match_log DISABLE TRIGGER USER")
        conn.exec_driver_sql(statement)
        conn.exec_driver_sql("ALTER TABLE match_log ENABLE TRIGGER USER")
        conn.exec_driver_sql("REVOKE UPDATE, DELETE ON match_log FROM CURRENT_USER")


def outcome_of(st, seq: int) -> str:
    with st.engine.connect() as conn:
        return conn.execute(text("SELECT outcome FROM match_log WHERE seq = :s"), {"s": seq}).scalar()


def superuser(st) -> bool:
    with st.engine.connect() as conn:
        return bool(conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar())


def assert_names_entry_and_column(st, seq: int, column: str) -> None:
    ok, detail = checks(st)["match log chain"]
    assert not ok and f"entry {seq}" in detail and column in detail, detail
    breaks = st.audit.verify_live_log()
    assert [(b.seq, b.kind) for b in breaks] == [(seq, "columns")] and column in breaks[0].message
    verification = st.audit.verification(Principal("auditor", "auditor"))
    assert not verification["ok"] and verification["breaks"][0]["seq"] == seq


def test_an_untouched_log_passes(st):
    found = checks(st)
    for name in ("match log chain", "match log triggers"):
        assert found[name][0], (name, found[name])
    assert st.audit.verify_live_log() == []
    if dialect(st) == "postgresql":
        # Migration 0006 revoked UPDATE, DELETE and TRUNCATE; a superuser bypasses them (and doctor says so).
        ok, detail = found["match log privileges"]
        assert ok == (not superuser(st)), detail
        assert ("is a superuser" if superuser(st) else "holds no UPDATE, DELETE, TRUNCATE") in detail
    else:
        with st.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA recursive_triggers").scalar() == 1


def test_replace_through_the_station_is_refused(st):
    """(a) REPLACE's implicit delete fires the no-delete trigger (recursive_triggers on every station connection);
    PostgreSQL's upsert runs into the no-update trigger (and, for a role that is no superuser, the revoked UPDATE)."""
    with pytest.raises(DBAPIError, match="append-only|permission denied"):
        with st.engine.begin() as conn:
            conn.exec_driver_sql(replace_sql(dialect(st), "outcome", "match"))
    for statement in ("UPDATE match_log SET outcome = 'match' WHERE seq = 2", "DELETE FROM match_log WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only|permission denied"):
            with st.engine.begin() as conn:
                conn.exec_driver_sql(statement)
    assert outcome_of(st, 2) == "no_match"
    assert st.audit.verify_live_log() == []


def test_replace_outside_the_station_is_named_by_doctor(st):
    """(b) The attacker's own sqlite3 (no recursive_triggers) REPLACEs two rows' outcome: no error, the signed body
    untouched; doctor and the live verification name the entries and the column, `station doctor` exits 1."""
    if dialect(st) == "sqlite":
        with attacker_sqlite(st) as conn:
            conn.execute(replace_sql("sqlite", "outcome", "match"))
            conn.execute(replace_sql("sqlite", "outcome", "match").replace("seq = 2", "seq = 3"))
    else:
        as_owner_without_trigger(st, replace_sql("postgresql", "outcome", "match"))
        as_owner_without_trigger(st, replace_sql("postgresql", "outcome", "match").replace("seq = 2", "seq = 3"))
    assert outcome_of(st, 2) == outcome_of(st, 3) == "match"  # the attack itself worked
    ok, detail = checks(st)["match log chain"]
    assert not ok and "entry 2" in detail and "entry 3" in detail and "outcome" in detail, detail
    assert [(b.seq, b.kind) for b in st.audit.verify_live_log()] == [(2, "columns"), (3, "columns")]
    assert checks(st)["match log triggers"][0]

    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(st.config.home), "doctor"],
                                env={"STATION_HOME": None, "STATION_PROFILE": None,
                                     "STATION_DATABASE__URL": st.config.database_url})
    assert result.exit_code == 1, result.output
    assert "FAIL match log chain: entry 2: column outcome" in result.output and "Traceback" not in result.output


def test_dropped_trigger_is_named_by_doctor(st):
    """(c) DROP TRIGGER (SQLite: from the attacker's sqlite3; PostgreSQL: as the owner) fails doctor, naming it."""
    if dialect(st) == "sqlite":
        with attacker_sqlite(st) as conn:
            conn.execute("DROP TRIGGER match_log_no_delete")
        missing = "match_log_no_delete"
    else:
        with st.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER match_log_append_only ON match_log")
        missing = "match_log_append_only"
    ok, detail = checks(st)["match log triggers"]
    assert not ok and missing in detail and "missing" in detail, detail


def test_a_trigger_replaced_or_disabled_is_named_by_doctor(st):
    """(c) A trigger of the same name that no longer refuses (SQLite), or one disabled (PostgreSQL)."""
    if dialect(st) == "sqlite":
        with attacker_sqlite(st) as conn:
            conn.execute("DROP TRIGGER match_log_no_update")
            conn.execute("CREATE TRIGGER match_log_no_update BEFORE UPDATE ON match_log BEGIN SELECT 1; END")
        name = "match_log_no_update"
    else:
        with st.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE match_log DISABLE TRIGGER match_log_append_only")
        name = "match_log_append_only"
    ok, detail = checks(st)["match log triggers"]
    assert not ok and name in detail, detail


@pytest.mark.parametrize("column, value", [("score", "99.5"), ("details", '{"reason": "device_failure"}'),
                                           ("event", "identify"), ("voter_ref", "0" * 32)])
def test_update_with_the_triggers_dropped_is_detected(st, column, value):
    """(d) Triggers dropped, a column updated, the triggers put back exactly: the triggers check passes, the rows
    check names the entry and the column."""
    seq = 5 if column == "details" else 2
    update = f"UPDATE match_log SET {column} = :v WHERE seq = {seq}"
    if dialect(st) == "sqlite":
        with attacker_sqlite(st) as conn:
            for name in SQLITE_TRIGGERS:
                conn.execute(f"DROP TRIGGER {name}")
            conn.execute(update.replace(":v", "?"), (float(value) if column == "score" else value,))
            for name, action in zip(SQLITE_TRIGGERS, ("UPDATE", "DELETE")):
                conn.execute(SQLITE_TRIGGER_SQL.format(name=name, action=action))
    else:
        literal = value if column == "score" else f"'{value}'"
        as_owner_without_trigger(st, update.replace(":v", literal))
    assert checks(st)["match log triggers"][0]
    assert_names_entry_and_column(st, seq, column)


def test_readers_read_the_signed_body(st):
    """The day summary and the authority note read what was signed, not the columns beside it: a tampered column
    changes neither (and doctor names it)."""
    officer = Principal("officer", "polling_officer")
    before = st.polling.day_summary(officer)
    tampering = [("outcome", "match", 2), ("details", json.dumps({"reason": "other"}), 5), ("outcome", "valid", 6)]
    for column, value, seq in tampering:
        if dialect(st) == "sqlite":
            with attacker_sqlite(st) as conn:
                conn.execute(replace_sql("sqlite", column, value).replace("seq = 2", f"seq = {seq}"))
        else:
            as_owner_without_trigger(st, replace_sql("postgresql", column, value).replace("seq = 2", f"seq = {seq}"))
    assert outcome_of(st, 6) == "valid"
    after = st.polling.day_summary(officer)
    assert after["attempts_by_mode"] == before["attempts_by_mode"] == {"fingerprint": {"no_match": 4}}
    assert after["exceptions_by_reason"] == before["exceptions_by_reason"] == {"worn_prints": 1}
    with st.transaction() as s:
        note = note_for(s, "session-1")
    assert note.cnic_status == "deceased" and note.flag == "warning"
    assert [b.seq for b in st.audit.verify_live_log()] == [2, 5, 6]


def test_every_column_is_compared_with_the_body():
    """A column added to match_log later must be compared too (or be one of the signed triplet)."""
    assert set(integrity.COMPARED) | set(integrity.SIGNED_COLUMNS) == set(COLUMNS)


def test_a_restored_log_still_agrees_with_its_bodies(st, tmp_path, make_database_url):
    """A backup restored into a fresh database keeps every column equal to its body (times, scores, details) and
    the append-only guards in place: doctor's checks of the log pass on the restored station."""
    from station.backup.archive import create_backup, init_backup_key
    from station.backup.restore import restore_backup
    from station.config import load_config

    passphrase = "correct horse battery staple"
    init_backup_key(st.config, passphrase, scrypt_n=2 ** 12)
    create_backup(tmp_path / "b.vsb", config=st.config, engine=st.engine, signer=st.log_signer)
    target = load_config("test", home=tmp_path / "restored", overrides={"database": {"url": make_database_url()}},
                         environ={})
    restore_backup(tmp_path / "b.vsb", passphrase, target, self_signed_ok=True)
    restored = build_station(target.home, target.database.url)
    try:
        found = checks(restored)
        assert found["match log chain"][0] and found["match log triggers"][0], found
        assert restored.audit.verify_live_log() == []
    finally:
        restored.close()
