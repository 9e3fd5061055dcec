"""``station bench packages`` (station/bench/packages.py): its set-up loads the roll a constituency at a time and each
constituency's load reads only its own rows (counted with SQLAlchemy's ``do_orm_execute`` event, not timed), a small
run keeps its JSON contract, and a bad size is one line."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from station.bench import packages as bench
from station.bench.dedup import cached_bases, default_cache_dir
from station.cli.main import main
from station.db.models import BiometricReference, Constituency, PollingStation, Voter
from station.packages import apply as apply_module
from tests.support.stations import build_station


def test_more_stations_than_voters_is_refused_in_one_line():
    result = CliRunner().invoke(main, ["bench", "packages", "--voters", "10", "--stations", "40", "--json"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "error: --stations 40 is more than --voters 10: every polling station needs a voter"]


def test_the_roll_loads_a_constituency_at_a_time_reading_only_its_own_rows(tmp_path, make_database_url, monkeypatch):
    commission = build_station(tmp_path / "commission", make_database_url(), station={"id": "COMMISSION"})
    commission.init()
    per_apply: list[dict] = []

    def count(state):
        if not state.is_select or not per_apply:
            return None
        frozen = state.invoke_statement().freeze()
        rows = frozen().all()
        per_apply[-1]["rows"] += len(rows)
        per_apply[-1]["read"].update(r._mapping["cnic"] for r in rows if "cnic" in r._mapping)
        return frozen()

    real_apply = apply_module.apply_content

    def counted(session, cipher, content, **kwargs):
        per_apply.append({"rows": 0, "read": set(), "own": {v.cnic for v in content.voters}})
        return real_apply(session, cipher, content, **kwargs)

    monkeypatch.setattr(apply_module, "apply_content", counted)
    event.listen(Session, "do_orm_execute", count)
    try:
        codes = bench._load_roll(commission, 300, 45, 3, cached_bases(default_cache_dir()))
    finally:
        event.remove(Session, "do_orm_execute", count)
    assert len(codes) == 45 and len(per_apply) == 3  # 20 polling stations to a constituency
    for load in per_apply:
        assert load["read"] <= load["own"]  # never a voter of a constituency loaded before
        assert load["rows"] <= len(load["own"]) + 10, load["rows"]  # its new rows' ids, and a handful more
    with commission.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Voter)) == 300
        assert s.scalar(select(func.count()).select_from(BiometricReference)) == 900  # two fingers and a face
        assert s.scalar(select(func.count()).select_from(PollingStation)) == 45
        assert s.scalar(select(func.count()).select_from(Constituency)) == 3
    commission.close()


@pytest.mark.slow
def test_a_small_run_keeps_its_contract():
    result = bench.bench_packages(300, 45, 2, verify=10)
    assert (result["packages"], result["voters"], result["stations"]) == (45, 300, 45)
    assert result["workers"] == 2 and result["verified_sample"] == 10
    assert result["wall_s"] > 0 and result["bytes_total_mb"] > 0 and result["setup_s"] > 0
