"""The station's checkpoints of its log's Merkle tree: stored once per tree size, written as note and QR code, taken at
poll opening, on the schedule while the poll is open and at the close; proofs against them; the auditor's API and
the summary screen's QR code; the live log checked against every stored checkpoint."""
import base64
import re

import pytest
from sqlalchemy import select

from station.audit import merkle
from station.audit.merkle_verify import check_consistency, check_inclusion
from station.audit.note import origin_for, parse_note
from station.audit.schedule import CheckpointScheduler
from station.db import engine as db
from station.db.models import MatchLogEntry
from station.errors import InvalidInput, NotFound
from station.security.users import Principal
from tests.support.pki import Commission
from tests.support.transparency import append, certified_station, read_qr

pytestmark = pytest.mark.slow
AUDITOR, OFFICER = Principal("auditor", "auditor"), Principal("officer", "polling_officer")


@pytest.fixture
def commission():
    return Commission()


@pytest.fixture
def st(tmp_path, make_database_url, commission):
    station = certified_station(tmp_path / "home", make_database_url(), commission)
    yield station
    station.close()


def bodies(st) -> list[bytes]:
    with st.transaction() as s:
        return [b.encode() for b in s.scalars(select(MatchLogEntry.body).order_by(MatchLogEntry.seq))]


def test_the_schema_has_the_checkpoints_table(st):
    current, head = db.schema_status(st.engine)
    assert current == head and int(head) >= 7  # 0007 made log_checkpoints; later migrations keep it


def test_a_checkpoint_signs_the_root_of_the_signed_bodies_once_per_size(st):
    append(st, 5)
    taken = st.transparency.take("manual")
    note = taken.signed_note()
    checkpoint = note.checkpoint()
    # the leaves are exactly the bytes the hash chain hashes: each entry's signed body
    assert checkpoint.size == 5 and checkpoint.origin == origin_for(st.config.station.id)
    assert checkpoint.root == merkle.root([merkle.leaf_hash(b) for b in bodies(st)])
    assert note.verified_by(checkpoint.origin, st.log_signer.signing_key.public_key())
    assert st.transparency.take("hourly") == taken  # the log did not grow: the same checkpoint, its first reason
    folder = st.transparency.settings.folder
    assert (folder / "000000005.note").read_text() == taken.note
    assert read_qr((folder / "000000005.png").read_bytes()) == taken.note
    append(st, 2)
    st.transparency.take("manual")
    assert [c.tree_size for c in st.transparency.checkpoints()] == [5, 7]
    assert st.audit.verify_live_log() == []
    with pytest.raises(InvalidInput, match="unknown checkpoint reason"):
        st.transparency.take("whenever")


def test_the_close_of_poll_takes_a_checkpoint_over_the_closing_entry(st):
    append(st, 3)
    closed = st.polling.close_poll("presiding")
    last = st.transparency.checkpoints()[-1]
    assert last.reason == "close" and last.tree_size == closed["sealed_seq"] == 4


def test_the_schedule_takes_the_opening_checkpoint_once_then_one_per_interval_while_open(st):
    append(st, 2)
    scheduler = CheckpointScheduler(st.transparency, interval_s=0.05)
    scheduler.start()
    try:
        assert [(c.tree_size, c.reason) for c in st.transparency.checkpoints()] == [(2, "open")]
        append(st, 3)  # a run may fall between two of these appends and take a checkpoint of size 3 or 4
        assert scheduler.wait_for_runs(scheduler.runs + 2, timeout_s=20)  # at least one whole run after the appends
        taken = [(c.tree_size, c.reason) for c in st.transparency.checkpoints()]
        assert taken[0] == (2, "open") and taken[-1] == (5, "hourly")
        assert all(reason == "hourly" for _, reason in taken[1:])
        sizes = [size for size, _ in taken]
        assert sizes == sorted(set(sizes))  # one checkpoint per size: a run over an unchanged log takes none
        st.polling.close_poll("presiding")
        closed = st.transparency.checkpoints()
        assert closed[-1].reason == "close"
        assert scheduler.wait_for_runs(scheduler.runs + 2, timeout_s=20)
        assert st.transparency.checkpoints() == closed  # nothing after the close
    finally:
        scheduler.stop()
    again = CheckpointScheduler(st.transparency, interval_s=0)
    again.start()  # the poll is closed (and an opening checkpoint exists): no opening checkpoint again
    assert st.transparency.checkpoints() == closed


def test_proofs_against_stored_checkpoints(st, commission):
    append(st, 6)
    st.transparency.take("open")
    append(st, 5)
    st.transparency.take("hourly")
    proof = st.transparency.prove(4)
    assert (proof.tree_size, proof.leaf_index) == (6, 3)  # default: the oldest checkpoint that holds the entry
    assert check_inclusion(proof, commission.pem).ok
    assert st.transparency.prove(4, 11).tree_size == 11 and check_inclusion(st.transparency.prove(9), commission.pem).ok
    assert check_consistency(st.transparency.consistency(6, 11), commission.pem).ok
    assert check_consistency(st.transparency.consistency(11, 11), commission.pem).ok
    append(st, 1)
    with pytest.raises(NotFound, match="no checkpoint covers entry 12"):
        st.transparency.prove(12)
    with pytest.raises(NotFound, match="no entry 13"):
        st.transparency.prove(13)
    with pytest.raises(NotFound, match=r"no checkpoint of tree size 7 \(stored: 6, 11"):
        st.transparency.consistency(6, 7)
    with pytest.raises(InvalidInput, match="0 < OLD <= NEW"):
        st.transparency.consistency(11, 6)


def test_the_auditor_api_and_the_summary_screen_show_the_latest_checkpoint(st):
    from api import create_app

    for name, role in (("auditor", "auditor"), ("presiding", "presiding_officer"), ("officer", "polling_officer")):
        st.accounts.add_user(name, f"{name}-merkle-pass", role)
    client = create_app(st).test_client()
    tokens = {name: client.post("/api/auth/login", json={"username": name, "password": f"{name}-merkle-pass"})
              .json["token"] for name in ("auditor", "presiding", "officer")}

    def get(path, who):
        return client.get(path, headers={"Authorization": f"Bearer {tokens[who]}"})

    assert get("/api/audit/checkpoint", "auditor").status_code == 404
    append(st, 4)
    taken = st.transparency.take("open")
    for who in ("auditor", "presiding"):
        r = get("/api/audit/checkpoint", who)
        assert r.status_code == 200 and r.json["note"] == taken.note and r.json["tree_size"] == 4
        assert r.json["root"] == base64.b64encode(parse_note(taken.note).checkpoint().root).decode()
        png = get("/api/audit/checkpoint.png", who)
        assert png.status_code == 200 and png.mimetype == "image/png" and read_qr(png.data) == taken.note
    assert get("/api/audit/checkpoint", "officer").status_code == 403
    assert get("/api/audit/checkpoint.png", "officer").status_code == 403
    assert client.get("/api/audit/checkpoint").status_code == 401
    # the summary screen (officers, auditor) shows the QR code of the latest checkpoint
    page = client.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": "officer", "password": "officer-merkle-pass",
                                       "csrf_token": csrf}).status_code == 302
    html = client.get("/summary").get_data(as_text=True)
    image = re.search(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert image and read_qr(base64.b64decode(image.group(1))) == taken.note
    assert taken.note.split("\n\n")[0] in html  # the note's text beside its code


def test_summary_before_the_first_checkpoint_says_so(st):
    assert st.transparency.summary_checkpoint(OFFICER) is None


class _Killed(BaseException):
    """The process killed at this point: nothing after it runs."""


def test_a_tree_checkpoint_stored_but_whose_note_a_kill_left_unwritten_is_written_again_and_exported(st, tmp_path,
                                                                                                   monkeypatch):
    """``take`` stores and signs the checkpoint in the database, then writes its note and QR code: a kill between the
    two left log_checkpoints holding it and audit/tree without it, so exported bundles lacked it. ``recover`` (the
    server's start, doctor) writes the note and QR code of every stored checkpoint that has none."""
    from station.audit import transparency
    from station.audit.bundle import verify_bundle

    append(st, 5)
    with monkeypatch.context() as patch:
        patch.setattr(transparency.TransparencyService, "_write_files",
                      lambda self, taken: (_ for _ in ()).throw(_Killed))
        with pytest.raises(_Killed):
            st.transparency.take("manual")
    [stored] = st.transparency.checkpoints()
    folder = st.transparency.settings.folder
    assert stored.tree_size == 5 and not (folder / "000000005.note").exists()
    stale = folder / ".000000005.png.0123abcd.tmp"
    folder.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"\x89PNG half")
    import os
    os.utime(stale, (1, 1))

    [(name, ok, detail)] = [c for c in st.recover() if c[0] == "audit files"]
    assert ok and "tree checkpoint note(s) of size 5" in detail and "1 stale temporary file" in detail, detail
    assert (folder / "000000005.note").read_text() == stored.note
    assert read_qr((folder / "000000005.png").read_bytes()) == stored.note
    assert not stale.exists()
    out = tmp_path / "bundle.zip"
    st.audit.export(out)
    assert verify_bundle(out).tree_checkpoints == 1
