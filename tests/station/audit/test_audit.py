"""The tamper-evident match log: chain verification of every kind of break, bundles verified offline, the closing
seal, the auditor's report and the merge of several stations."""
import json
import shutil
import subprocess
import sys
import threading
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.stations import PASSWORDS, ROLL_SEED, build_station
from station.audit.bundle import verify_bundle
from station.audit.chain import LogSigner, genesis_hash, verify_entries
from station.audit.merge import merge_bundles
from station.audit.report import analyse, render_html
from station.errors import Conflict

pytestmark = pytest.mark.slow


def make_chain(n, station="ST-1", key=None):
    signer = LogSigner(station, key or Ed25519PrivateKey.generate(), b"k" * 32)
    entries, prev = [], genesis_hash(station)
    for seq in range(1, n + 1):
        e = signer.seal({"v": 1, "seq": seq, "at": "2026-11-29T08:00:00+05:00", "station": station, "event": "x",
                         "prev": prev, "details": {}})
        entries.append(e)
        prev = e.hash
    return signer, entries


def kinds(entries, signer, station="ST-1"):
    breaks, _ = verify_entries(entries, signer.signing_key.public_key(), station)
    return [(b.seq, b.kind) for b in breaks]


def test_an_intact_chain_holds():
    signer, entries = make_chain(6)
    assert kinds(entries, signer) == []


def test_each_kind_of_break_is_found_with_its_sequence_number():
    signer, entries = make_chain(6)
    altered = list(entries)
    altered[2] = type(entries[2])(entries[2].body.replace('"event":"x"', '"event":"y"'), entries[2].hash, entries[2].signature)
    assert kinds(altered, signer) == [(3, "bad-signature")]
    assert kinds(entries[:2] + entries[3:], signer) == [(3, "removed")]
    assert kinds(entries[:3] + [entries[1]] + entries[3:], signer) == [(2, "inserted")]
    swapped = entries[:2] + [entries[3], entries[2]] + entries[4:]
    assert (3, "reordered") in kinds(swapped, signer)
    other, foreign = make_chain(6, station="ST-2")
    assert kinds(entries[:3] + [foreign[3]] + entries[3:], other) != []
    assert (4, "foreign") in kinds(entries[:3] + [foreign[3]] + entries[4:], signer)
    wrong_key = LogSigner("ST-1", Ed25519PrivateKey.generate(), b"k" * 32)
    assert [k for _, k in kinds(entries, wrong_key)] == ["bad-signature"] * 6


def test_voter_references_are_keyed():
    a = LogSigner("S", Ed25519PrivateKey.generate(), b"a" * 32)
    b = LogSigner("S", Ed25519PrivateKey.generate(), b"b" * 32)
    assert a.voter_ref("12345-1234567-1") == a.voter_ref("12345-1234567-1") != b.voter_ref("12345-1234567-1")
    assert "12345" not in a.voter_ref("12345-1234567-1")


@pytest.fixture(scope="module")
def small_station(tmp_path_factory, make_database_url):
    """A station of its own (the close-poll seal ends its day), with a few voters through the whole flow."""
    home = tmp_path_factory.mktemp("audit-home")
    st = build_station(home, make_database_url(), audit={"checkpoint_every": 4})
    st.init()
    st.synthesize_roll(16, ROLL_SEED)
    from station.security.users import Principal

    officer, presiding = Principal("officer", "polling_officer"), Principal("presiding", "presiding_officer")
    here = st.roll.list_voters(polling_station=st.config.station.polling_station)
    for voter in here[:3]:
        st.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
        view = st.polling.start_verification(officer, voter.cnic)
        view = st.polling.capture_fingerprint(officer, view.id)
        st.polling.issue_ballot(officer, view.id)
    view = st.polling.start_verification(officer, here[3].cnic)
    st.polling.record_exception(presiding, view.id, "device_failure", None)
    yield st, home
    st.close()


def test_export_verify_and_seal(small_station, tmp_path):
    st, home = small_station
    open_bundle = tmp_path / "open.zip"
    st.audit.export(open_bundle)
    result = verify_bundle(open_bundle)
    assert result.ok and not result.sealed and result.warnings
    assert result.station == st.config.station.id and result.roll_digest
    assert (home / "audit" / "checkpoints").is_dir() and any((home / "audit" / "checkpoints").iterdir())

    sealed = st.polling.close_poll("presiding")
    from station.security.users import Principal
    with pytest.raises(Conflict, match="closed"):
        st.polling.start_verification(Principal("officer", "polling_officer"), st.roll.list_voters()[5].cnic)
    bundle = tmp_path / "sealed.zip"
    st.audit.export(bundle)
    result = verify_bundle(bundle)
    assert result.ok and result.sealed and result.entries == sealed["sealed_seq"]

    run = subprocess.run([sys.executable, "-m", "station", "audit", "verify", str(bundle), "--json", "--self-signed-ok"],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["ok"] is True

    # a truncated tail is caught by the seal, an edited entry by its signature, a swapped key everywhere
    def rewrite(name, transform):
        out = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
            for item in src.namelist():
                dst.writestr(item, transform(item, src.read(item)))
        return out

    cut = rewrite("cut", lambda n, d: b"".join(d.splitlines(keepends=True)[:-2]) if n == "log.jsonl" else d)
    kinds_cut = {b.kind for b in verify_bundle(cut).breaks}
    assert "seal" in kinds_cut or "truncated" in kinds_cut
    edited = rewrite("edited", lambda n, d: d.replace(b'device_failure', b'worn_prints') if n == "log.jsonl" else d)
    assert any(b.kind == "bad-signature" for b in verify_bundle(edited).breaks)
    other_cert = (tmp_path / "other.crt")
    from station.audit.identity import station_certificate
    from cryptography.hazmat.primitives import serialization
    other_cert.write_bytes(station_certificate(Ed25519PrivateKey.generate(), st.config.station.id)
                           .public_bytes(serialization.Encoding.PEM))
    swapped = rewrite("swapped", lambda n, d: other_cert.read_bytes() if n == "station.crt" else d)
    assert not verify_bundle(swapped).ok
    run = subprocess.run([sys.executable, "-m", "station", "audit", "verify", str(edited)],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert run.returncode == 1 and "break at entry" in run.stdout and "Traceback" not in run.stderr
    not_a_bundle = tmp_path / "junk.zip"
    not_a_bundle.write_bytes(b"junk")
    run = subprocess.run([sys.executable, "-m", "station", "audit", "verify", str(not_a_bundle)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1 and "not an audit bundle" in run.stderr  # verify's check failed: exit 1

    report = tmp_path / "report.html"
    run = subprocess.run([sys.executable, "-m", "station", "audit", "report", str(bundle), "--out", str(report),
                          "--self-signed-ok"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    page = report.read_text()
    assert "HOLDS" in page and "data:image/png;base64," in page and "http" not in page.split("<body>")[1].split("<pre>")[0]


def test_report_flags_anomalies():
    base = {"v": 1, "station": "S", "details": {}}
    bodies, seq = [], 0

    def add(**kw):
        nonlocal seq
        seq += 1
        bodies.append({**base, "seq": seq, **kw})

    def voter(session, operator, at, exception=False, ballot_at=None):
        add(event="identify", session=session, at=at, outcome="IDENTIFIED", operator=operator, voter=session, serial=1)
        if exception:
            add(event="exception", session=session, at=at, outcome="EXCEPTION", operator="presiding",
                details={"reason": "worn_prints"})
        add(event="ballot_issued", session=session, at=ballot_at or at.replace(":00+", ":59+"), outcome="BALLOT_ISSUED",
            operator=operator, voter=session, details={"decided_by": "exception" if exception else "fingerprint"})

    voter("fast", "amina", "2026-11-29T08:30:00+05:00", ballot_at="2026-11-29T08:30:03+05:00")
    voter("late", "amina", "2026-11-29T19:00:00+05:00")
    for i in range(12):
        voter(f"a{i}", "amina", f"2026-11-29T10:{i:02d}:00+05:00")
    for i in range(4):
        voter(f"b{i}", "bilal", f"2026-11-29T11:{i:02d}:00+05:00", exception=i < 3)
    findings = analyse(bodies, "S")
    flagged = {a["kind"] for a in findings.anomalies}
    assert {"too_fast", "outside_hours", "exception_rate"} <= flagged
    assert [a for a in findings.anomalies if a["kind"] == "exception_rate"][0]["message"].startswith("operator bilal")
    assert findings.ballots_by_mode == {"fingerprint": 15, "exception": 3}
    assert findings.exceptions_by_approver == {"presiding": 3}
    assert "exception_rate" in render_html(findings, {"ok": True, "breaks": [], "warnings": []})


def test_merge_finds_voters_given_ballots_at_two_stations(small_station, tmp_path, make_database_url):
    st, home = small_station
    first = tmp_path / "a.zip"
    st.audit.export(first)
    # a second station of the same commission (same voter-reference key), where one voter of the first also voted
    home2 = tmp_path / "home2"
    (home2 / "keys").mkdir(parents=True)
    shutil.copy(home / "keys" / "voter-ref.key", home2 / "keys" / "voter-ref.key")
    (home2 / "keys" / "voter-ref.key").chmod(0o600)
    other = build_station(home2, make_database_url(), station={"id": "AJK-DEMO-02"})
    other.init()
    other.synthesize_roll(16, ROLL_SEED)
    from station.security.users import Principal
    officer = Principal("officer", "polling_officer")
    voter = other.roll.list_voters(polling_station=other.config.station.polling_station)[0]
    other.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
    view = other.polling.capture_fingerprint(officer, other.polling.start_verification(officer, voter.cnic).id)
    other.polling.issue_ballot(officer, view.id)
    second = tmp_path / "b.zip"
    other.audit.export(second)
    other.close()
    result = merge_bundles([first, second], self_signed_ok=True)
    assert [len({w["station"] for w in d["ballots"]}) for d in result["double_votes"]] == [2]
    assert result["ok"] is False and all(b["ok"] for b in result["bundles"])


def test_no_decision_without_its_log_entry(station, voters, officer, monkeypatch):
    from station.audit import log as matchlog

    voter = voters.take()
    station.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
    view = station.polling.capture_fingerprint(officer, station.polling.start_verification(officer, voter.cnic).id)
    real = matchlog.append

    def failing(session, signer, **kw):
        if kw.get("event") == "ballot_issued":
            raise RuntimeError("disk full")
        return real(session, signer, **kw)

    monkeypatch.setattr(matchlog, "append", failing)
    with pytest.raises(RuntimeError):
        station.polling.issue_ballot(officer, view.id)
    monkeypatch.setattr(matchlog, "append", real)
    assert not station.roll.voter(officer, voter.cnic).voted
    assert station.polling.issue_ballot(officer, view.id).state == "BALLOT_ISSUED"


def test_concurrent_writers_never_fork_the_chain(station, voters, officer):
    cnics = [voters.take().cnic for _ in range(4)]
    errors = []

    def work(cnic):
        try:
            for _ in range(5):
                station.polling.start_verification(officer, cnic)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in cnics]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert station.audit.verify_live_log() == []


def test_auditor_api(client, tokens, station, voters, officer):
    for _ in range(3):  # entries to page through, whatever ran before on this worker
        station.polling.start_verification(officer, voters.take().cnic)
    h = {"Authorization": f"Bearer {tokens['auditor']}"}
    r = client.get("/api/audit/verify", headers=h)
    assert r.status_code == 200 and r.json["ok"] is True and r.json["entries"] > 0
    entries = client.get("/api/audit/log?limit=3", headers=h).json
    assert len(entries) == 3 and entries[0]["body"]["seq"] == 1
    assert client.get("/api/audit/log?limit=x", headers=h).status_code == 400
    page = client.get("/api/audit/report", headers=h)
    assert page.status_code == 200 and page.mimetype == "text/html" and b"Match log audit" in page.data
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    assert client.get("/api/audit/report", headers=officer).status_code == 403
    assert PASSWORDS  # the shared logins are the ones conftest created


def _age(path, seconds: float = 3600) -> None:
    import os
    import time

    then = time.time() - seconds
    os.utime(path, (then, then))


def test_checkpoint_files_a_kill_left_unwritten_are_written_again_and_stale_temporaries_removed(tmp_path,
                                                                                              make_database_url):
    """A kill after the commit of a multiple of audit.checkpoint_every, before its file was written: the file never
    appeared. At the next start (``recover``, run by the server and by doctor) it is written again, the same signed
    statement (Ed25519 is deterministic), and the temporary files killed writers left behind are removed (a young one,
    perhaps another process's write in progress, is kept)."""
    from tests.support.transparency import append

    st = build_station(tmp_path / "home", make_database_url(), audit={"checkpoint_every": 3})
    try:
        st.init()
        append(st, 10)
        folder = tmp_path / "home" / "audit" / "checkpoints"
        originals = {p.name: p.read_bytes() for p in folder.glob("*.json")}
        assert sorted(originals) == ["000000003.json", "000000006.json", "000000009.json"]
        (folder / "000000006.json").unlink()
        (folder / "000000009.json").unlink()
        stale = folder / ".000000009.json.0badf00d.tmp"
        stale.write_bytes(b'{"body": "half')
        _age(stale)
        young = folder / ".000000012.json.12345678.tmp"
        young.write_bytes(b"")
        sealed_stale = tmp_path / "home" / "audit" / ".seal.json.deadbeef.tmp"
        sealed_stale.write_bytes(b"")
        _age(sealed_stale)
        key_stale = tmp_path / "home" / "keys" / ".template.key.0123abcd.tmp"  # `station init` killed mid-write
        key_stale.write_bytes(b"\x00" * 16)
        _age(key_stale)

        checks = {name: (ok, detail) for name, ok, detail in st.recover()}
        ok, detail = checks["audit files"]
        assert ok and "6, 9" in detail and "3 stale temporary file" in detail, detail
        assert {p.name: p.read_bytes() for p in folder.glob("*.json")} == originals
        assert not stale.exists() and not sealed_stale.exists() and not key_stale.exists() and young.exists()
        assert st.recover()[-1] == ("audit files", True, "nothing to repair")  # done once

        out = tmp_path / "bundle.zip"
        st.audit.export(out)
        with zipfile.ZipFile(out) as z:
            assert sorted(n for n in z.namelist() if n.startswith("checkpoints/")) == [
                f"checkpoints/{name}" for name in sorted(originals)]
        assert verify_bundle(out).ok
    finally:
        st.close()


def test_a_missing_checkpoint_is_not_signed_over_an_entry_that_does_not_verify(tmp_path, make_database_url,
                                                                               monkeypatch):
    """The repair signs only what the station signed before: an entry whose signature does not verify under the
    station key (changed in the database) gets no checkpoint; the break is named, the file stays missing."""
    from station.audit import log as matchlog
    from station.audit.chain import SignedEntry
    from tests.support.transparency import append

    st = build_station(tmp_path / "home", make_database_url(), audit={"checkpoint_every": 3})
    try:
        st.init()
        append(st, 4)
        folder = tmp_path / "home" / "audit" / "checkpoints"
        (folder / "000000003.json").unlink()
        real = matchlog.signed_entries_at

        def altered(session, seqs):
            return {seq: SignedEntry(e.body.replace("officer", "intruder"), e.hash, e.signature)
                    for seq, e in real(session, seqs).items()}

        monkeypatch.setattr(matchlog, "signed_entries_at", altered)
        [(name, ok, detail)] = [c for c in st.recover() if c[0] == "audit files"]
        assert not ok and "entry 3" in detail and "does not verify" in detail, detail
        assert not (folder / "000000003.json").exists()
    finally:
        st.close()
