"""`station sync export` and `station central merge`: three stations of one constituency vote, export their results,
and the centre merges them: exactly the two planted double votes, nothing changed by a second merge, tampered files
refused with nothing written, stations that never reported listed. The stations' databases and the central one are
SQLite, or PostgreSQL when STATION_TEST_DATABASE_URL names a server."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import stat
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from tests.support.cli import cli_for
from tests.support.pki import Commission
from station.audit.identity import ROLE_STATION
from station.audit.identity import signing_request
from station.errors import InvalidInput
from station.packages.crypto import issue_certificate
from tests.support.stations import build_station
from station.registration import flow as enrollment
from station.central import results_export as sync
from station.audit.identity import CERTIFICATE_FILE, SIGNING_KEY_FILE
from station.central import merge as central_merge
from station.central import store as central_store
from station.central.db import CentralDatabase
from station.central.errors import CentralDatabaseError, SyncFileRejected
from station.central.models import TABLES, CentralMeta
from station.central.models import CentralVerificationSession as S
from station.central.verify import verify_export
from station.cli.sync import central, sync as sync_group
from station.security.keys import template_context
from station.security.users import Principal

pytestmark = pytest.mark.slow

SEED = 1  # one constituency (LA-2); 11 of the 12 voters belong to each roll's first polling station
VOTERS = 12
# build_roll names a roll's first polling station after the station's own code and its second PS-002: the three
# rolls share PS-002, which no station serves, so the centre must report it as never heard from.
SITES = {"A": ("AJK-LA2-A", "PS-001"), "B": ("AJK-LA2-B", "PS-003"), "C": ("AJK-LA2-C", "PS-004")}
OFFICER = Principal("officer", "polling_officer")
PRESIDING = Principal("presiding", "presiding_officer")


def export_of(station, out: Path) -> sync.ExportSummary:
    """``station sync export`` in process: a built station's configuration, transactions and log key."""
    return sync.export_results(out, config=station.config, transaction=station.transaction, signer=station.log_signer)


@dataclass
class Site:
    station: object
    home: Path
    url: str


def vote(st, voter) -> str:
    st.steering.present_fingerprint(OFFICER, voter.cnic, voter.fingers[0])
    view = st.polling.capture_fingerprint(OFFICER, st.polling.start_verification(OFFICER, voter.cnic).id)
    assert view.state == "VERIFIED", view.message
    assert st.polling.issue_ballot(OFFICER, view.id).state == "BALLOT_ISSUED"
    return view.id


def build_site(root: Path, name: str, url: str, *, roll: bool = True, cache_from: Path | None = None, **sections):
    station_id, polling_station = SITES.get(name, (name, "PS-009"))
    home = root / name
    home.mkdir()
    if cache_from is not None:  # synthetic finger masters are deterministic per voter: reuse them, roll builds faster
        shutil.copytree(cache_from / "sim", home / "sim")
    st = build_station(home, url, station={"id": station_id, "polling_station": polling_station}, **sections)
    st.init()
    if roll:
        st.synthesize_roll(VOTERS, SEED, workers=1)
    return Site(st, home, url)


@pytest.fixture(scope="module")
def sites(tmp_path_factory, make_database_url):
    """Three stations. Built from one seed, their rolls hold the same people: the voters of each station's own
    polling station are on all three rolls (a roll error), which lets one person be given a ballot at two stations.
    Exactly two people use it: L[0] votes at A and B, L[1] at A and C."""
    root = tmp_path_factory.mktemp("sync-sites")
    a = build_site(root, "A", make_database_url())
    b = build_site(root, "B", make_database_url(), cache_from=a.home)
    c = build_site(root, "C", make_database_url(), cache_from=a.home)
    rolls = {n: s.station.roll.list_voters(polling_station=SITES[n][1]) for n, s in zip("ABC", (a, b, c))}
    assert [v.cnic for v in rolls["A"]] == [v.cnic for v in rolls["B"]] == [v.cnic for v in rolls["C"]]
    L = rolls["A"]
    assert len(L) >= 11
    for voter in (L[0], L[1], L[2]):
        vote(a.station, voter)
    view = a.station.polling.start_verification(OFFICER, L[3].cnic)  # no biometrics used: an exception, then the ballot
    a.station.polling.record_exception(PRESIDING, view.id, "worn_prints", "callused thumbs")
    a.station.polling.issue_ballot(OFFICER, view.id)
    for voter in (L[4], L[5], L[0]):
        vote(b.station, voter)
    # left half-way at B (identified, no capture yet): finished after the first export
    b.station.steering.present_fingerprint(OFFICER, L[9].cnic, L[9].fingers[0])
    pending = b.station.polling.start_verification(OFFICER, L[9].cnic).id
    for voter in (L[6], L[7], L[1]):
        vote(c.station, voter)
    elsewhere = next(v for v in c.station.roll.list_voters() if v.polling_station == "PS-002")
    assert c.station.polling.start_verification(OFFICER, elsewhere.cnic).state == "NOT_ON_ROLL"
    files = {}
    for name, site in zip("ABC", (a, b, c)):
        site.station.polling.wait_for_cross_checks()
        files[name] = root / f"{name}.sync"
        export_of(site.station, files[name])
    yield {"A": a, "B": b, "C": c, "L": L, "files": files, "pending": pending, "root": root,
           "doubles": {L[0].cnic: {SITES["A"][0], SITES["B"][0]}, L[1].cnic: {SITES["A"][0], SITES["C"][0]}}}
    for site in (a, b, c):
        site.station.close()


def row_counts(database) -> dict[str, int]:
    with database.transaction() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in TABLES}


FINDINGS = ("double_votes", "enrollment_duplicates", "stations_not_reported", "stations_reported", "totals")


def findings(summary: dict) -> dict:
    return {k: summary[k] for k in FINDINGS}


def members(path_or_bytes) -> tuple[dict[str, bytes], bytes]:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}, z.comment


def repack(files: dict[str, bytes], comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.comment = comment
    return buffer.getvalue()


def station_key(site) -> Ed25519PrivateKey:
    return serialization.load_pem_private_key((site.home / "keys" / SIGNING_KEY_FILE).read_bytes(), None)


# --- the station side ---

def test_export_is_one_signed_file_without_biometric_data(sites):
    a, path = sites["A"], sites["files"]["A"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    files, comment = members(path)
    assert sorted(files) == ["audit-bundle.zip", "results.json"]
    assert json.loads(comment)["format"] == sync.SIGNATURE_FORMAT
    results = json.loads(files["results.json"])
    assert results["station"]["id"] == SITES["A"][0] and results["station"]["polling_station"] == "PS-001"
    assert results["station"]["certificate"] == (a.home / "keys" / CERTIFICATE_FILE).read_text()
    assert results["station"]["constituency"] == "LA-2"
    with a.station.transaction() as s:
        from station.roll import store as roll

        assert results["roll"]["digest"] == roll.get_meta(s, "roll_digest") is not None
    assert [p["polling_station"] for p in results["polling_scheme"]] == ["PS-001", "PS-002"]
    L = sites["L"]
    assert sorted(b["cnic"] for b in results["ballots"]) == sorted(v.cnic for v in L[:4])
    assert sorted(s["state"] for s in results["verification_sessions"]) == ["BALLOT_ISSUED"] * 4
    exception = next(s for s in results["verification_sessions"] if s["cnic"] == L[3].cnic)
    assert exception["decided_by"] == "exception" and exception["exception_reason"] == "worn_prints"
    assert results["enrollments"] == [] and results["audit"]["chain_ok"] is True
    # the signature covers every byte before it, under the key of the certificate
    signed = path.read_bytes()[:-len(comment)]
    station_key(a).public_key().verify(bytes.fromhex(json.loads(comment)["sig"]), signed)
    # no template, in any encoding, anywhere in the file's contents
    with a.station.transaction() as s:
        from station.roll.store import references

        templates = [a.station.cipher.decrypt(bytes(r.ciphertext), template_context(L[0].cnic, r.modality, r.position))
                     for r in references(s, L[0].cnic, "fingerprint")]
        ciphertexts = [bytes(r.ciphertext) for r in references(s, L[0].cnic, "fingerprint")]
    bundle_files = {n: d for n, d in members(files["audit-bundle.zip"])[0].items()}
    haystack = b"".join([files["results.json"], *bundle_files.values()])
    assert len(templates) == 2
    for blob in templates + ciphertexts:
        for form in (blob[8:40], base64.b64encode(blob)[8:48], blob.hex()[8:72].encode()):
            assert form not in haystack
    assert not {"ciphertext", "template", "image"} & set(json.dumps(results).replace('"', " ").split())


def test_export_of_an_uninitialised_station_is_one_line(tmp_path):
    result = CliRunner().invoke(cli_for(sync_group, tmp_path / "nohome"), ["sync", "export", "--out",
                                                                          str(tmp_path / "x.sync")])
    assert result.exit_code == 3
    assert result.output.count("\n") == 1 and "station init" in result.output
    assert not (tmp_path / "x.sync").exists()


def test_export_through_the_command_line(sites, tmp_path):
    a = sites["A"]
    env = {"STATION_DATABASE__URL": a.url, "STATION_STATION__ID": SITES["A"][0],
           "STATION_STATION__POLLING_STATION": SITES["A"][1], "STATION_HOME": None, "STATION_PROFILE": None}
    out = tmp_path / "a-cli.sync"
    result = CliRunner().invoke(cli_for(sync_group, a.home), ["sync", "export", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ballots"] == 4 and summary["station"] == SITES["A"][0] and summary["audit_chain_ok"]
    assert verify_export(out.read_bytes(), self_signed_ok=True).station_id == SITES["A"][0]


def test_a_station_whose_log_does_not_verify_still_exports_but_is_told_and_refused(central_db, tmp_path,
                                                                                    make_database_url):
    site = build_site(tmp_path, "AJK-LA2-E", make_database_url(), roll=False)
    site.station.close()
    checkpoints = site.home / "audit" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "000000001.json").write_text('{"body": "{}", "sig": "00"}')  # a forged checkpoint
    env = {"STATION_DATABASE__URL": site.url, "STATION_STATION__ID": "AJK-LA2-E",
           "STATION_STATION__POLLING_STATION": "PS-009", "STATION_HOME": None, "STATION_PROFILE": None}
    out = tmp_path / "E.sync"
    result = CliRunner().invoke(cli_for(sync_group, site.home), ["sync", "export", "--out", str(out)], env=env)
    assert result.exit_code == 1 and json.loads(result.stdout)["audit_chain_ok"] is False
    assert result.stderr.count("\n") == 1 and "does not verify" in result.stderr
    merged = central_merge.merge_files(central_db, [out], self_signed_ok=True)
    assert merged["refused"] == 1 and "audit log does not verify" in merged["files"][0]["reason"]
    no_folder = CliRunner().invoke(cli_for(sync_group, site.home),
                                   ["sync", "export", "--out", str(tmp_path / "no" / "x.sync")], env=env)
    assert no_folder.exit_code == 2 and no_folder.output == \
        f"error: cannot write {tmp_path / 'no' / 'x.sync'}: no such folder {tmp_path / 'no'}\n"


# --- the merge ---

def test_merge_reports_exactly_the_two_planted_double_votes_and_merging_again_changes_nothing(sites, central_db):
    paths = [sites["files"][n] for n in "ABC"]
    first = central_merge.merge_files(central_db, paths, self_signed_ok=True)
    assert (first["imported"], first["already_imported"], first["refused"]) == (3, 0, 0), first["files"]
    assert {d["cnic"]: set(d["stations"]) for d in first["double_votes"]} == sites["doubles"]
    for double in first["double_votes"]:
        assert len(double["ballots"]) == 2 and all(b["voted_at"] and b["session"] for b in double["ballots"])
    assert first["totals"]["ballots"] == 10 and first["totals"]["voters_with_ballots"] == 8
    assert first["totals"]["verification_sessions"] == 12  # A 4, B 3 + 1 pending, C 3 + 1 not on roll
    assert [(s["constituency"], s["polling_station"]) for s in first["stations_not_reported"]] == [("LA-2", "PS-002")]
    assert first["enrollment_duplicates"] == []
    counts = row_counts(central_db)
    again = central_merge.merge_files(central_db, paths, self_signed_ok=True)
    assert (again["imported"], again["already_imported"], again["refused"]) == (0, 3, 0)
    assert row_counts(central_db) == counts
    assert findings(again) == findings(first)


def test_a_later_export_of_a_station_adds_only_what_is_new(sites, central_db, tmp_path, make_database_url):
    central_merge.merge_files(central_db, [sites["files"][n] for n in "ABC"], self_signed_ok=True)
    before = row_counts(central_db)
    b, L = sites["B"], sites["L"]
    view = b.station.polling.capture_fingerprint(OFFICER, sites["pending"])  # the voter left half-way finishes
    assert b.station.polling.issue_ballot(OFFICER, view.id).state == "BALLOT_ISSUED"
    vote(b.station, L[10])
    b.station.polling.wait_for_cross_checks()
    later = tmp_path / "B-later.sync"
    export_of(b.station, later)
    result = central_merge.merge_files(central_db, [later, sites["files"]["B"]], self_signed_ok=True)
    assert [f["status"] for f in result["files"]] == ["imported", "already_imported"]
    added, updated = result["files"][0]["added"], result["files"][0]["updated"]
    assert added == {"verification_sessions": 1, "ballots": 2, "enrollments": 0, "polling_stations": 0}
    assert updated == {"verification_sessions": 1, "enrollments": 0}
    after = row_counts(central_db)
    assert after["central_ballots"] == before["central_ballots"] + 2
    assert after["central_verification_sessions"] == before["central_verification_sessions"] + 1
    assert {d["cnic"] for d in result["double_votes"]} == set(sites["doubles"])
    with central_db.transaction() as s:
        assert s.scalar(select(S.state).where(S.session_id == sites["pending"])) == "BALLOT_ISSUED"
    # merged in the other order, the older file takes nothing back from the newer one
    other = CentralDatabase(make_database_url()).open()
    try:
        central_merge.merge_files(other, [sites["files"]["A"], sites["files"]["C"], later], self_signed_ok=True)
        newer_first = row_counts(other)
        older = central_merge.merge_files(other, [sites["files"]["B"]], self_signed_ok=True)["files"][0]
        assert older["status"] == "imported" and set(older["added"].values()) == set(older["updated"].values()) == {0}
        assert {k: v for k, v in row_counts(other).items() if k != "central_imports"} == {
            k: v for k, v in newer_first.items() if k != "central_imports"}
        with other.transaction() as s:
            assert s.scalar(select(S.state).where(S.session_id == sites["pending"])) == "BALLOT_ISSUED"
    finally:
        other.close()


def test_stations_that_never_reported_are_listed(sites, central_db, tmp_path):
    expect = ["PS-001", SITES["C"][0], "PS-077"]
    partial = central_merge.merge_files(central_db, [sites["files"]["A"], sites["files"]["B"]], expected=expect,
                                       self_signed_ok=True)
    assert [(s["polling_station"], s["source"]) for s in partial["stations_not_reported"]] == [
        ("PS-002", "polling_scheme"), (SITES["C"][0], "expected"), ("PS-077", "expected")]
    full = central_merge.merge_files(central_db, [sites["files"]["C"]], expected=expect, self_signed_ok=True)
    assert [(s["polling_station"], s["source"]) for s in full["stations_not_reported"]] == [
        ("PS-002", "polling_scheme"), ("PS-077", "expected")]
    assert [s["station"] for s in full["stations_reported"]] == [SITES[n][0] for n in "ABC"]


def test_tampered_files_are_refused_and_nothing_of_them_is_written(sites, central_db, tmp_path):
    central_merge.merge_files(central_db, [sites["files"]["A"]], self_signed_ok=True)
    counts, summary = row_counts(central_db), central_merge.summary(central_db)
    original = sites["files"]["B"].read_bytes()
    files, comment = members(original)
    tampered: dict[str, bytes] = {}
    for n, position in enumerate(sorted({0, len(original) - 1, *range(7, len(original), len(original) // 23)})):
        flipped = bytearray(original)
        flipped[position] ^= 0x01
        tampered[f"flip-{n}-at-{position}"] = bytes(flipped)
    tampered["signature-removed"] = repack(files)
    tampered["member-added"] = repack({**files, "extra.txt": b"hello"}, comment)
    bundle_files, _ = members(files["audit-bundle.zip"])
    log_lines = bundle_files["log.jsonl"].splitlines(keepends=True)
    altered_bundle = repack({**bundle_files, "log.jsonl": b"".join(log_lines[:2] + log_lines[3:])})  # entry 3 out
    tampered["bundle-altered"] = repack({**files, "audit-bundle.zip": altered_bundle}, comment)
    # the station itself (holding its key) re-signs: an edited log, or results that hide a ballot its log records
    results = json.loads(files["results.json"])
    key = station_key(sites["B"])
    tampered["bundle-altered-and-re-signed"] = sync.build_sync_file(key, results, altered_bundle)
    hidden = {**results, "ballots": [b for b in results["ballots"] if b["cnic"] != sites["L"][0].cnic]}
    tampered["ballot-hidden-and-re-signed"] = sync.build_sync_file(key, hidden, files["audit-bundle.zip"])
    tampered["garbage"] = os.urandom(3000)
    tampered["empty"] = b""
    reasons = {}
    for name, data in tampered.items():
        path = tmp_path / f"{name}.sync"
        path.write_bytes(data)
        result = central_merge.merge_files(central_db, [path], self_signed_ok=True)
        assert result["refused"] == 1, (name, result["files"])
        reasons[name] = result["files"][0]["reason"]
        assert reasons[name]
        assert row_counts(central_db) == counts, name
        assert findings(result) == findings(summary), name
    assert "not signed" in reasons["signature-removed"]
    assert "unexpected extra.txt" in reasons["member-added"]
    assert "signature does not verify" in reasons["bundle-altered"]
    assert "audit log does not verify" in reasons["bundle-altered-and-re-signed"]
    assert "disagree on ballots" in reasons["ballot-hidden-and-re-signed"]
    # the untouched file still goes in
    path = tmp_path / "B.sync"
    path.write_bytes(original)
    assert central_merge.merge_files(central_db, [path], self_signed_ok=True)["imported"] == 1


def test_a_file_naming_a_known_station_but_signed_by_another_key_is_refused(sites, central_db, tmp_path_factory,
                                                                           make_database_url):
    central_merge.merge_files(central_db, [sites["files"]["A"]], self_signed_ok=True)
    counts = row_counts(central_db)
    root = tmp_path_factory.mktemp("impostor")
    impostor = build_site(root, "A", make_database_url(), roll=False)  # same station id, its own new key
    try:
        path = root / "impostor.sync"
        export_of(impostor.station, path)
    finally:
        impostor.station.close()
    result = central_merge.merge_files(central_db, [path], self_signed_ok=True)
    assert result["refused"] == 1 and "another key" in result["files"][0]["reason"]
    assert row_counts(central_db) == counts


def certified_site(root: Path, station_id: str, url: str, commission: Commission) -> Path:
    """A station whose log certificate the commission issued from the station's own request; its export."""
    site = build_site(root, station_id, url, roll=False)
    try:
        csr = x509.load_pem_x509_csr(signing_request(site.home / "keys", station_id))  # `station identity request`
        cert = issue_certificate(commission.key, commission.cert, csr, station_id, ROLE_STATION)
        (site.home / "keys" / CERTIFICATE_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        path = root / f"{station_id}.sync"
        export_of(site.station, path)
    finally:
        site.station.close()
    return path


def test_with_a_commission_certificate_only_certified_stations_are_accepted(sites, central_db, tmp_path_factory,
                                                                           make_database_url):
    """Issue 16: a forged file (same station id, a fresh key, a self-signed certificate, or one issued by the
    attacker's own "commission") merged FIRST neither is accepted nor locks the real station out."""
    commission, fake = Commission(), Commission()
    root = tmp_path_factory.mktemp("countersigned")
    genuine = certified_site(root, "AJK-LA2-D", make_database_url(), commission)
    impostor_root = root / "impostor"
    impostor_root.mkdir()
    impostor = build_site(impostor_root, "AJK-LA2-D", make_database_url(), roll=False)  # same id, its own key
    try:
        forged = impostor_root / "forged.sync"
        export_of(impostor.station, forged)
    finally:
        impostor.station.close()
    fake_root = root / "fake"
    fake_root.mkdir()
    carried = certified_site(fake_root, "AJK-LA2-D", make_database_url(), fake)
    result = central_merge.merge_files(central_db, [forged, carried, sites["files"]["A"], genuine],
                                       commission_pem=commission.pem)
    assert [f["status"] for f in result["files"]] == ["refused", "refused", "refused", "imported"]
    assert "self-signed, not issued by the commission" in result["files"][0]["reason"]
    assert "issued by another key" in result["files"][1]["reason"]
    assert [s["station"] for s in result["stations_reported"]] == ["AJK-LA2-D"]
    # no commission certificate: nothing is merged unless --self-signed-ok
    with pytest.raises(InvalidInput, match="integrity only"):
        central_merge.merge_files(central_db, [forged])
    with pytest.raises(SyncFileRejected, match="integrity only"):
        verify_export(forged.read_bytes())


def test_a_key_pinned_by_an_unauthenticated_file_gives_way_to_the_certified_one(tmp_path_factory, make_database_url):
    commission = Commission()
    root = tmp_path_factory.mktemp("repin")
    genuine = certified_site(root, "AJK-LA2-E", make_database_url(), commission)
    (root / "impostor").mkdir()
    impostor = build_site(root / "impostor", "AJK-LA2-E", make_database_url(), roll=False)
    try:
        forged, forged_later = root / "forged.sync", root / "forged-later.sync"
        export_of(impostor.station, forged)
        export_of(impostor.station, forged_later)
    finally:
        impostor.station.close()
    database = CentralDatabase(make_database_url()).open()
    try:
        assert central_merge.merge_files(database, [forged], self_signed_ok=True)["imported"] == 1  # demo mode pins it
        result = central_merge.merge_files(database, [genuine], commission_pem=commission.pem)
        assert result["imported"] == 1, result["files"]
        again = central_merge.merge_files(database, [forged_later], self_signed_ok=True)  # the pin is the real key
        assert again["refused"] == 1 and "another key" in again["files"][0]["reason"]
    finally:
        database.close()


def test_central_merge_without_a_commission_certificate_is_refused(sites, tmp_path):
    sqlite_url = f"sqlite:///{tmp_path}/central.db"
    out = run_central(tmp_path, "merge", "--db", sqlite_url, str(sites["files"]["A"]))
    assert out.exit_code == 3 and "integrity only: the signer is not authenticated" in out.stderr
    assert not (tmp_path / "central.db").exists()
    out = run_central(tmp_path, "verify", str(sites["files"]["A"]))
    assert out.exit_code == 3 and "integrity only" in out.stderr


def test_enrollment_duplicates_are_reported_until_decided(central_db, tmp_path_factory, make_database_url,
                                                          monkeypatch):
    records = [
        {"id": "e1", "cnic": "82101-1234567-1", "state": "DUPLICATE", "operator": "registrar",
         "polling_station": "PS-009", "created_at": "2026-11-20T09:00:00+05:00",
         "decided_at": "2026-11-20T10:00:00+05:00", "decision": "duplicate", "decided_by": "presiding",
         "duplicate_of": ["82101-7654321-3"], "note": "same face, two CNICs", "face_template": "AAAA"},
        {"id": "e2", "cnic": "82101-2345678-2", "state": "ADJUDICATION", "operator": "registrar",
         "polling_station": "PS-009", "created_at": "2026-11-20T09:30:00+05:00", "decided_at": None,
         "decision": None, "decided_by": None, "duplicate_of": ["82101-8765432-4"], "note": None},
        {"id": "e3", "cnic": "82101-3456789-5", "state": "ENROLLED", "operator": "registrar",
         "polling_station": "PS-009", "created_at": "2026-11-20T09:45:00+05:00", "decided_at": None,
         "decision": None, "decided_by": None, "duplicate_of": [], "note": None},
    ]
    monkeypatch.setattr(enrollment, "enrollment_records", lambda session: [dict(r) for r in records])
    root = tmp_path_factory.mktemp("registration")
    site = build_site(root, "AJK-REG-1", make_database_url(), roll=False)
    try:
        first = root / "reg-1.sync"
        export_of(site.station, first)
        assert b"face_template" not in members(first)[0]["results.json"]
        result = central_merge.merge_files(central_db, [first], self_signed_ok=True)
        assert [(d["enrollment"], d["status"]) for d in result["enrollment_duplicates"]] == [
            ("e1", "duplicate"), ("e2", "awaiting_adjudication")]
        assert result["enrollment_duplicates"][0]["duplicate_of"] == ["82101-7654321-3"]
        # later in the day the registrar decides e2: not a duplicate
        records[1].update(state="ENROLLED", decision="not_duplicate", decided_at="2026-11-20T11:00:00+05:00",
                          decided_by="presiding")
        later = root / "reg-2.sync"
        export_of(site.station, later)
    finally:
        site.station.close()
    result = central_merge.merge_files(central_db, [later], self_signed_ok=True)
    assert result["files"][0]["updated"]["enrollments"] == 1 and result["files"][0]["added"]["enrollments"] == 0
    assert [d["enrollment"] for d in result["enrollment_duplicates"]] == ["e1"]


def test_two_merges_of_one_file_at_once_insert_it_once(sites, central_db):
    path = sites["files"]["C"]
    databases = [CentralDatabase(central_db.url).open() for _ in range(2)]
    barrier, statuses = threading.Barrier(2), []

    def merge(database):
        barrier.wait()
        statuses.append(central_merge.merge_file(database, path, self_signed_ok=True)["status"])

    threads = [threading.Thread(target=merge, args=(d,)) for d in databases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in databases:
        d.close()
    assert sorted(statuses) == ["already_imported", "imported"]
    counts = row_counts(central_db)
    assert counts["central_imports"] == 1 and counts["central_ballots"] == 3


def test_the_unique_file_digest_alone_stops_a_second_import(sites, central_db, monkeypatch):
    """The race window of two concurrent merges, made certain: neither sees the other's file before inserting."""
    path = sites["files"]["B"]
    first = central_merge.merge_file(central_db, path, self_signed_ok=True)
    counts = row_counts(central_db)
    real, calls = central_merge._known_station, []

    def blind_first_time(database, digest):
        calls.append(digest)
        return False if len(calls) == 1 else real(database, digest)

    monkeypatch.setattr(central_merge, "_known_station", blind_first_time)
    second = central_merge.merge_file(central_db, path, self_signed_ok=True)
    assert (first["status"], second["status"]) == ("imported", "already_imported")
    assert second["station"] == SITES["B"][0] and len(calls) == 2
    assert row_counts(central_db) == counts


def test_a_file_is_imported_in_one_transaction(sites, central_db, monkeypatch):
    real = central_store.insert_ignoring_duplicates

    def failing(session, table, rows, keys):
        if table.name == "central_ballots":  # after the file row, the station, the scheme and the sessions
            raise RuntimeError("disk full")
        return real(session, table, rows, keys)

    monkeypatch.setattr(central_store, "insert_ignoring_duplicates", failing)
    with pytest.raises(RuntimeError):
        central_merge.merge_file(central_db, sites["files"]["A"], self_signed_ok=True)
    counts = row_counts(central_db)
    assert counts.pop("central_meta") == 1 and set(counts.values()) == {0}
    monkeypatch.undo()
    assert central_merge.merge_file(central_db, sites["files"]["A"], self_signed_ok=True)["status"] == "imported"


def test_the_central_schema_carries_its_version(central_db):
    with central_db.transaction() as s:
        assert s.scalar(select(CentralMeta.value).where(CentralMeta.key == "schema_version")) == "3"
        s.get(CentralMeta, "schema_version").value = "99"
    with pytest.raises(CentralDatabaseError, match="schema version 99"):
        CentralDatabase(central_db.url).open()


def test_verify_refuses_before_reading_a_database():
    with pytest.raises(SyncFileRejected, match="not a sync file"):
        verify_export(b"PK\x03\x04 not really", self_signed_ok=True)


# --- the command line ---

def run_central(home: Path, *args):
    return CliRunner().invoke(cli_for(central, home), ["central", *args],
                              env={"STATION_HOME": None, "STATION_PROFILE": None, "STATION_CENTRAL_DB_URL": None})


def test_central_merge_command(sites, make_database_url, tmp_path):
    url = make_database_url()
    files = [str(sites["files"][n]) for n in "ABC"]
    expect = tmp_path / "expected.txt"
    expect.write_text("# polling stations of LA-2\nPS-001 PS-003\nPS-004\nPS-005\n")
    result = run_central(tmp_path, "merge", "--self-signed-ok", "--db", url, "--expect", str(expect), *files)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["imported"] == 3 and {d["cnic"] for d in summary["double_votes"]} == set(sites["doubles"])
    assert [s["polling_station"] for s in summary["stations_not_reported"]] == ["PS-002", "PS-005"]
    again = run_central(tmp_path, "merge", "--self-signed-ok", "--db", url, "--expect", str(expect), *files)
    assert again.exit_code == 0 and json.loads(again.stdout)["already_imported"] == 3
    assert findings(json.loads(again.stdout)) == findings(summary)
    verified = run_central(tmp_path, "verify", "--self-signed-ok", files[0])
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ballots"] == 4


def test_central_merge_errors_are_one_line(sites, tmp_path):
    good = str(sites["files"]["A"])
    sqlite_url = f"sqlite:///{tmp_path}/central.db"
    missing = run_central(tmp_path, "merge", "--self-signed-ok", "--db", sqlite_url, good, str(tmp_path / "nope.sync"))
    assert missing.exit_code == 2 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "nope.sync: no such file" in missing.stderr
    assert not (tmp_path / "central.db").exists()  # nothing was opened, nothing merged
    garbage = tmp_path / "garbage.sync"
    garbage.write_bytes(b"this is not a results file\n" * 40)
    mixed = run_central(tmp_path, "merge", "--self-signed-ok", "--db", sqlite_url, good, str(garbage))
    assert mixed.exit_code == 1
    assert [f["status"] for f in json.loads(mixed.stdout)["files"]] == ["imported", "refused"]
    assert mixed.stderr.count("\n") == 1 and mixed.stderr.startswith(f"error: {garbage}: refused: not a sync file")
    for url, words in (("nonsense", "is not a database URL"), ("mysql://u@localhost/x", "not supported"),
                       ("postgresql+psycopg://station:s3cret@127.0.0.1:1/central", "cannot use the central database"),
                       (f"sqlite:///{tmp_path}/no/such/dir/c.db", "cannot use the central database")):
        wrong = run_central(tmp_path, "merge", "--self-signed-ok", "--db", url, good)
        assert wrong.exit_code == 3, (url, wrong.output)  # a database it cannot use: refused
        assert wrong.stderr.count("\n") == 1 and words in wrong.stderr and "Traceback" not in wrong.output
        assert "s3cret" not in wrong.output
    bad_verify = run_central(tmp_path, "verify", "--self-signed-ok", str(garbage))
    assert bad_verify.exit_code == 1 and bad_verify.stderr.count("\n") == 1
