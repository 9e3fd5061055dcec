"""The roll store: migrations, encryption at rest, the append-only match log, deterministic synthetic rolls."""
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from station.db import engine as db
from station.db.models import BiometricReference, MatchLogEntry
from station.simulation.roll import build_roll


def test_schema_is_at_the_newest_migration(station):
    current, head = db.schema_status(station.engine)
    assert current == head is not None


@pytest.mark.sqlite_only  # not selected on PostgreSQL (tests/conftest.py)
def test_sqlite_runs_in_wal_mode(station):
    assert station.engine.dialect.name == "sqlite"
    with station.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_templates_are_encrypted_at_rest(station):
    with station.transaction() as s:
        ref = s.scalars(select(BiometricReference).where(BiometricReference.modality == "fingerprint")).first()
        assert ref.key_id == station.cipher.key_id
        # The engine's template (leader_mcc_bozorth3: "VVFP" + version, with ISO 19794-2 records inside, which start
        # with "FMR\0"); the stored bytes must show neither.
        assert ref.format == "leader_mcc_bozorth3/v2"
        assert not ref.ciphertext.startswith(b"VVFP") and b"FMR\x00" not in ref.ciphertext
        plain = station.cipher.decrypt(ref.ciphertext, f"{ref.voter.cnic}|fingerprint|{ref.position}")
        assert plain.startswith(b"VVFP\x02") and b"FMR\x00 20\x00" in plain


def test_match_log_refuses_update_and_delete(station, voters, officer):
    station.polling.start_verification(officer, voters.take().cnic)
    with station.transaction() as s:
        assert s.scalar(select(MatchLogEntry.seq).order_by(MatchLogEntry.seq.desc()).limit(1))
    for statement in ("UPDATE match_log SET outcome = 'x'", "DELETE FROM match_log"):
        with pytest.raises(DBAPIError, match="append-only|permission denied"):  # PostgreSQL: UPDATE/DELETE revoked
            with station.transaction() as s:
                s.execute(text(statement))


def test_synthetic_roll_is_deterministic_and_realistic():
    a, b = build_roll(120, seed=5), build_roll(120, seed=5)
    assert a == b
    assert build_roll(120, seed=6).voters != a.voters
    cnics = [v.cnic for v in a.voters]
    assert len(set(cnics)) == len(cnics) == 120
    for v in a.voters:
        assert (int(v.cnic[-1]) % 2 == 1) == (v.gender == "male")
        assert v.name_ur and v.relative_name_ur and v.address_ur
    families = {}
    for v in a.voters:
        families.setdefault(v.family_number, set()).add(v.address_en)
    assert all(len(addresses) == 1 for addresses in families.values())
    assert max(sum(1 for v in a.voters if v.family_number == f) for f in families) >= 3
    for station in a.stations:
        serials = sorted(v.serial_number for v in a.voters if v.polling_station == station.code)
        assert serials == list(range(1, len(serials) + 1))
        if station.kind != "combined":
            assert {v.gender for v in a.voters if v.polling_station == station.code} == {station.kind}
