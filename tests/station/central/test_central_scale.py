"""The central store for a whole election, small: a few synthetic stations certified by a throw-away commission,
a few planted double votes (one voter given a ballot at two stations), merged by the real merge into SQLite, or into
PostgreSQL (partitioned tables, COPY) when STATION_TEST_DATABASE_URL names a server. Exactly the planted double
votes are found, a second merge changes nothing, and two mergers racing over the same files give the same database
as one merger alone."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from station.bench import central as bench
from station.central import findings
from station.central.db import CentralDatabase
from station.central.merge import ALREADY_IMPORTED, IMPORTED
from station.central.models import CentralBallot, CentralPollingStation, CentralStation, CentralVerificationSession
from station.errors import InvalidInput

STATIONS, BALLOTS, DOUBLES = 5, 12, 3


@pytest.fixture(scope="module")
def election(tmp_path_factory):
    plan = bench.ElectionPlan(STATIONS, BALLOTS, DOUBLES, seed=3)
    return plan, bench.generate(plan, cache_root=tmp_path_factory.mktemp("bench-cache"), workers=1)


def contents(url: str) -> dict:
    """What a merge leaves, without the ids and times that differ between two databases."""
    with CentralDatabase(url).open() as database, database.transaction() as s:
        return {"ballots": sorted(s.execute(select(CentralBallot.station_id, CentralBallot.session_id,
                                                   CentralBallot.cnic, CentralBallot.voted_at))),
                "sessions": sorted(s.execute(select(CentralVerificationSession.station_id,
                                                    CentralVerificationSession.session_id,
                                                    CentralVerificationSession.state))),
                "stations": sorted(s.execute(select(CentralStation.station_id, CentralStation.public_key_sha256))),
                "scheme": sorted(s.execute(select(CentralPollingStation.constituency, CentralPollingStation.code))),
                "double_votes": findings.double_votes(s), "not_reported": findings.stations_not_reported(s),
                "totals": findings.totals(s)}


def test_the_bench_finds_exactly_the_planted_double_votes(election, make_database_url):
    plan, generated = election
    result = bench.bench_central(STATIONS, BALLOTS, DOUBLES, make_database_url(), seed=plan.seed,
                                 cache_root=generated.folder.parent.parent)
    assert result["generation"]["cached"] is True  # the fixture's files, not new ones
    assert result["double_votes_found"] == result["double_votes_planted"] == DOUBLES
    assert result["false_reports"] == 0
    assert result["ballots"] == STATIONS * BALLOTS + DOUBLES and result["files_imported"] == STATIONS
    assert result["stations_not_reported_found"] == result["stations_not_reported_planted"] == 1
    assert result["stations_not_reported_false"] == 0
    assert result["second_merge"] == {"seconds": result["second_merge"]["seconds"], "already_imported": STATIONS,
                                      "other": {}, "changed": False}
    assert result["meets_checks"] is True


def test_a_double_vote_whose_second_file_is_missing_is_not_found(election, make_database_url):
    """The check can fail: without the file of the station that gave one planted voter a second ballot, that double
    vote is not there to find, and check_findings says so."""
    plan, generated = election
    cnic, (home, other) = sorted(generated.planted.items())[0]
    url = make_database_url()
    CentralDatabase(url).open().close()
    files = [f for f in generated.files if f.stem != other]
    counts = bench.merge_concurrently(url, files, generated.commission_pem, 1)
    assert counts == {IMPORTED: STATIONS - 1}
    with CentralDatabase(url).open() as database:
        check = bench.check_findings(database, plan, generated.planted)
    lost = sum(1 for h, o in generated.planted.values() if other in (h, o))
    assert check.double_votes_found == DOUBLES - lost and check.false_reports == 0
    assert check.not_reported_false == 1  # the missing station's own polling station is reported, rightly


def test_two_racing_mergers_leave_what_one_merger_leaves(election, make_database_url):
    plan, generated = election
    alone, racing = make_database_url(), make_database_url()
    for url in (alone, racing):
        CentralDatabase(url).open().close()
    assert bench.merge_concurrently(alone, list(generated.files), generated.commission_pem, 1) == {IMPORTED: STATIONS}
    raced = bench.merge_concurrently(racing, list(generated.files), generated.commission_pem, 2,
                                     every_file_to_every_merger=True)
    assert raced == {IMPORTED: STATIONS, ALREADY_IMPORTED: STATIONS}  # each file imported once, never refused
    assert contents(racing) == contents(alone)
    with CentralDatabase(racing).open() as database:
        assert bench.check_findings(database, plan, generated.planted).double_votes_found == DOUBLES
    again = bench.merge_concurrently(racing, list(generated.files), generated.commission_pem, 2)
    assert again == {ALREADY_IMPORTED: STATIONS} and contents(racing) == contents(alone)


def test_the_bench_wants_an_empty_database(election, make_database_url):
    plan, generated = election
    url = make_database_url()
    CentralDatabase(url).open().close()
    bench.merge_concurrently(url, list(generated.files[:1]), generated.commission_pem, 1)
    with pytest.raises(InvalidInput, match="empty central database"):
        bench.bench_central(STATIONS, BALLOTS, DOUBLES, url, seed=plan.seed, cache_root=generated.folder.parent.parent)


def test_ballots_are_partitioned_by_station_on_postgresql_only(election, make_database_url):
    plan, generated = election
    url = make_database_url()
    CentralDatabase(url).open().close()
    bench.merge_concurrently(url, list(generated.files), generated.commission_pem, 1)
    with CentralDatabase(url).open() as database, database.transaction() as s:
        if database.dialect == "postgresql":
            for table in ("central_ballots", "central_verification_sessions"):
                parts = s.scalar(text("SELECT count(*) FROM pg_inherits WHERE inhparent = CAST(:t AS regclass)"),
                                 {"t": table})
                assert parts == 16
            # every row of one station in one partition
            spread = s.execute(text("SELECT station_id, count(DISTINCT tableoid) FROM central_ballots "
                                    "GROUP BY station_id")).all()
            assert len(spread) == STATIONS and {n for _, n in spread} == {1}
        else:
            assert database.dialect == "sqlite"
            tables = set(s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'")))
            assert not {t for t in tables if t.startswith("central_ballots_p")}
        assert s.scalar(select(func.count()).select_from(CentralBallot)) == STATIONS * BALLOTS + DOUBLES
