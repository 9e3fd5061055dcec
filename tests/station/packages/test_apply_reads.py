"""What applying a roll package reads (station/packages/apply.py): a delta reads the rows it touches, never the whole
roll already loaded. Loading a master roll a constituency at a time through this path (``station bench packages``)
is then linear: before, each constituency's apply read every voter already loaded (quadratic). Rows are counted with
SQLAlchemy's ``do_orm_execute`` event, not timed."""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from station.db.models import Voter
from station.packages.apply import apply_content
from station.packages.format import PackageContent, PackageRejected
from station.roll.changes import VoterRecord
from station.roll.store import EnrolledTemplate
from station.simulation.roll import build_roll
from tests.support.stations import build_station

PER_STATION = 30


@pytest.fixture
def station(tmp_path, make_database_url):
    st = build_station(tmp_path / "commission", make_database_url(), station={"id": "COMMISSION"})
    st.init()
    yield st
    st.close()


@pytest.fixture(scope="module")
def people():
    return build_roll(600, 41).voters


@contextmanager
def reads():
    """Every row the ORM sessions' statements return while inside: (rows, CNICs seen in them)."""
    seen = {"rows": 0, "cnics": set()}

    def count(state):
        if not state.is_select:
            return None
        frozen = state.invoke_statement().freeze()
        rows = frozen().all()
        seen["rows"] += len(rows)
        seen["cnics"].update(r._mapping["cnic"] for r in rows if "cnic" in r._mapping)
        return frozen()

    event.listen(Session, "do_orm_execute", count)
    try:
        yield seen
    finally:
        event.remove(Session, "do_orm_execute", count)


def constituency(number: int, voters: list, stations: int = 2) -> PackageContent:
    """A constituency's content as the bench loads it: its polling stations, voters spread over them in order."""
    code = f"NA-{number:03d}"
    codes = [f"PS-{number:03d}-{i + 1}" for i in range(stations)]
    records, refs = [], []
    for i, v in enumerate(voters):
        ps = codes[i * stations // len(voters)]
        records.append(VoterRecord(**{f.name: getattr(v, f.name) for f in dataclasses.fields(VoterRecord)}
                                   | {"polling_station": ps, "serial_number": i + 1, "booth": 1}))
        refs.append(EnrolledTemplate(v.cnic, "face", "face", "dlib-128-f32", 180, bytes([i % 256]) * 512))
    return PackageContent(constituencies=((code, f"Constituency {code}", "", "District"),),
                          polling_stations=tuple((p, code, f"Station {p}", "", "combined", 1) for p in codes),
                          voters=tuple(records), references=tuple(refs))


def apply(st, content: PackageContent, *, full: bool = False):
    with st.transaction() as s:
        return apply_content(s, st.cipher, content, full=full)


def test_a_constituency_import_reads_none_of_the_voters_already_loaded(station, people):
    first = [v.cnic for v in people[:400]]
    apply(station, constituency(1, people[:400]))
    with reads() as second:
        result = apply(station, constituency(2, people[400:440]))
    assert result.added == 40 and result.updated == 0
    assert not second["cnics"] & set(first)  # it read none of the first constituency's voters
    # what it read is bounded by its own size (its new rows' ids), not by the 400 voters already there
    assert second["rows"] <= 40 + 10, second["rows"]
    apply(station, constituency(3, people[440:560], stations=4))
    with reads() as fourth:
        apply(station, constituency(4, people[560:600]))
    assert fourth["rows"] == second["rows"]  # 560 voters loaded instead of 400: the same reads
    with station.transaction() as s:
        assert s.scalar(select(Voter.id).where(Voter.cnic == first[0])) is not None
        assert len(s.scalars(select(Voter.cnic)).all()) == 600


def test_a_delta_still_updates_in_place_bumps_pending_serials_and_refuses_unknown_removals(station, people):
    apply(station, constituency(1, people[:60]))
    content = constituency(1, people[:60])
    with station.transaction() as s:
        kept_id = s.scalar(select(Voter.id).where(Voter.cnic == people[0].cnic))
        # a local registration waiting for a package, holding serial 31 at the second polling station
        pending = s.get(Voter, s.scalar(select(Voter.id).where(Voter.cnic == people[30].cnic)))
        pending.status, pending.cnic = "pending", people[100].cnic
    # the delta: voter 0 corrected, people[30] back on the roll at serial 31 (the pending row's serial), one removal
    changed = dataclasses.replace(content.voters[0], name_en="Corrected Name")
    delta = dataclasses.replace(content, voters=(changed, content.voters[30]),
                                references=(content.references[0], content.references[30]),
                                removals=((people[59].cnic, "deceased"),))
    with reads() as seen:
        result = apply(station, delta)
    assert (result.added, result.updated, result.removed) == (1, 1, 1)
    assert seen["cnics"] <= {people[0].cnic, people[30].cnic, people[59].cnic, people[100].cnic}
    with station.transaction() as s:
        row = s.scalar(select(Voter).where(Voter.cnic == people[0].cnic))
        assert (row.id, row.name_en) == (kept_id, "Corrected Name")  # updated in place
        bumped = s.scalar(select(Voter).where(Voter.cnic == people[100].cnic))
        assert bumped.status == "pending" and bumped.serial_number == 60  # the next free one (serial 60 left)
        assert s.scalar(select(Voter.serial_number).where(Voter.cnic == people[30].cnic)) == 31
        assert s.scalar(select(Voter.id).where(Voter.cnic == people[59].cnic)) is None
    unknown = dataclasses.replace(content, voters=(), references=(), removals=((people[200].cnic, "deceased"),))
    with pytest.raises(PackageRejected) as refused:
        apply(station, unknown)
    assert refused.value.code == "roll_mismatch"
