"""A registration centre's sync file at the commission (docs/registration.md, docs/sync-and-central.md): a centre
registers people, and its file carries those registrations to the central database, where `central merge` lists
the ones held as duplicates (``enrollment_duplicates``). A centre is not a polling station: its file counts as no
polling station's report, and a file signed by a centre's certificate that carries verification sessions or ballots
is refused whole (a centre's key does not sign polling results).

Found by following the commission's documents (session 43): with the commission's certificate held, `central
merge` refused every centre's file ("certified as 'voter-station registration centre', not as 'voter-station match
log'"), so with an anchor no registration ever reached the central database."""
from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, select, text

from station.audit.identity import CERTIFICATE_FILE, ROLE_CENTRE, signing_request
from station.central import merge as central_merge
from station.central.db import CentralDatabase, upgrade
from station.central.errors import SyncFileRejected
from station.central.models import CentralImport, CentralMeta, SCHEMA_VERSION
from station.central.verify import verify_export
from station.packages.crypto import issue_certificate
from station.registration import flow as enrollment
from tests.support.pki import Commission
from tests.station.central.test_sync_central import SEED, build_site, export_of, row_counts, run_central, vote

pytestmark = pytest.mark.slow

CENTRE, CENTRE_DEFAULT_PS = "CENTRE-07", "PS-009"  # build_site gives a station not in SITES polling station PS-009
RECORDS = [
    {"id": "c1", "cnic": "82101-1234567-1", "state": "DUPLICATE", "operator": "registrar",
     "polling_station": "PS-004", "created_at": "2026-11-20T09:00:00+05:00",
     "decided_at": "2026-11-20T10:00:00+05:00", "decision": "duplicate", "decided_by": "registrar",
     "duplicate_of": ["82101-7654321-3"], "note": "same face, two CNICs"},
    {"id": "c2", "cnic": "82101-3456789-5", "state": "ENROLLED", "operator": "clerk",
     "polling_station": "PS-004", "created_at": "2026-11-20T09:45:00+05:00", "decided_at": None,
     "decision": None, "decided_by": None, "duplicate_of": [], "note": None},
]


def certified_centre(root, url, commission: Commission, *, voters: int):
    """A centre built like a station (the same software) with a roll of ``voters`` (0: none; its polling scheme
    comes with the first), its log certificate issued by the commission for a registration centre (`station roll
    add-centre --request`) and installed."""
    site = build_site(root, CENTRE, url, roll=False)
    if voters:
        site.station.synthesize_roll(voters, SEED, workers=1)
    csr = x509.load_pem_x509_csr(signing_request(site.home / "keys", CENTRE))
    cert = issue_certificate(commission.key, commission.cert, csr, CENTRE, ROLE_CENTRE)
    (site.home / "keys" / CERTIFICATE_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return site


@pytest.fixture(scope="module")
def commission():
    return Commission()


@pytest.fixture(scope="module")
def registrations(tmp_path_factory, make_database_url, commission):
    """The centre's file carrying its two registrations (one held as a duplicate), and the polling scheme of the
    roll its packages brought."""
    root = tmp_path_factory.mktemp("centre")
    site = certified_centre(root, make_database_url(), commission, voters=1)
    patch = pytest.MonkeyPatch()
    patch.setattr(enrollment, "enrollment_records", lambda session: [dict(r) for r in RECORDS])
    try:
        export_of(site.station, root / "centre.sync")
    finally:
        patch.undo()
        site.station.close()
    return root / "centre.sync"


@pytest.fixture(scope="module")
def with_ballot(tmp_path_factory, make_database_url, commission):
    """A file signed by the centre's certified key whose station verified a voter and issued a ballot: a complete,
    consistent file (results and log agree), only not a polling station's."""
    root = tmp_path_factory.mktemp("centre-voting")
    site = certified_centre(root, make_database_url(), commission, voters=3)
    try:
        vote(site.station, site.station.roll.list_voters(polling_station=CENTRE_DEFAULT_PS)[0])
        site.station.polling.wait_for_cross_checks()
        export_of(site.station, root / "centre-ballot.sync")
    finally:
        site.station.close()
    return root / "centre-ballot.sync"


def test_a_certified_centre_s_registrations_reach_the_central_database(registrations, commission, central_db):
    verified = verify_export(registrations.read_bytes(), commission_pem=commission.pem, register={})
    assert verified.kind == "registration_centre" and verified.countersigned is True
    assert [e.enrollment_id for e in verified.results.enrollments] == ["c1", "c2"]
    assert not any("polls" in w or "register" in w for w in verified.warnings), verified.warnings  # no poll, no PS
    result = central_merge.merge_files(central_db, [registrations], commission_pem=commission.pem,
                                       expected=[CENTRE_DEFAULT_PS])
    assert result["imported"] == 1, result["files"]
    assert [(d["station"], d["enrollment"], d["status"], d["polling_station"])
            for d in result["enrollment_duplicates"]] == [(CENTRE, "c1", "duplicate", "PS-004")]
    assert (result["totals"]["enrollments"], result["totals"]["stations"], result["totals"]["centres"]) == (2, 0, 1)
    # the centre reports for no polling station: not among the stations reported, its configuration's polling
    # station is still one that never reported, and its copy of the polling scheme is not what the central database
    # expects reports from (a polling station's file brings that)
    assert result["stations_reported"] == [] and result["totals"]["polling_stations"] == 0
    assert verified.results.scheme, "the centre's file carries a scheme"
    assert [(p["polling_station"], p["source"]) for p in result["stations_not_reported"]] == [
        (CENTRE_DEFAULT_PS, "expected")]
    assert [(c["centre"], c["files"], c["enrollments"]) for c in result["centres_reported"]] == [(CENTRE, 1, 2)]


def test_without_a_commission_certificate_the_file_is_said_to_be_unauthenticated(registrations):
    """--self-signed-ok (demos): integrity only, and the result says so; the role is the certificate's own word."""
    verified = verify_export(registrations.read_bytes(), self_signed_ok=True)
    assert verified.countersigned is None and verified.kind == "registration_centre"
    assert any(w.startswith("integrity only: the signer is not authenticated") for w in verified.warnings), \
        verified.warnings


def test_a_centre_s_file_carrying_a_ballot_is_refused_and_writes_nothing(with_ballot, commission, central_db):
    with pytest.raises(SyncFileRejected, match=f"station '{CENTRE}' is certified as a registration centre: its "
                                               "certificate signs registrations, not 1 verification session"):
        verify_export(with_ballot.read_bytes(), commission_pem=commission.pem)
    before = row_counts(central_db)
    result = central_merge.merge_files(central_db, [with_ballot], commission_pem=commission.pem)
    assert result["refused"] == 1 and "1 ballot" in result["files"][0]["reason"], result["files"]
    assert row_counts(central_db) == before


def test_central_verify_names_the_centre_and_refuses_its_ballots_in_one_line(registrations, with_ballot,
                                                                             commission, tmp_path):
    crt = tmp_path / "commission.crt"
    crt.write_bytes(commission.pem)
    out = run_central(tmp_path, "verify", "--commission-cert", str(crt), str(registrations))
    assert out.exit_code == 0, out.output
    shown = json.loads(out.stdout)
    assert shown["ok"] is True and shown["kind"] == "registration_centre" and shown["enrollments"] == 2
    out = run_central(tmp_path, "verify", "--commission-cert", str(crt), str(with_ballot))
    assert out.exit_code == 1 and json.loads(out.stdout)["ok"] is False, out.output
    assert out.stderr.count("\n") == 1 and "registration centre" in out.stderr


def test_a_version_2_central_database_is_upgraded_and_its_files_stay_polling_stations_reports(make_database_url):
    """A database merged into before centres were admitted: opening it adds the column, and every file it holds
    was a polling station's (no centre's file could be imported then)."""
    url = make_database_url()
    engine = create_engine(url)
    with engine.begin() as connection:
        upgrade(connection, "0001")
        connection.execute(text(
            "INSERT INTO central_imports (file_sha256, file_name, station_id, polling_station, exported_at, "
            "imported_at, poll_state, audit_entries, audit_sealed, audit_bundle, warnings, counts) VALUES "
            "('ab', 'a.sync', 'AJK-1', 'PS-001', '2026-11-20 17:00:00+00', '2026-11-20 18:00:00+00', 'closed', 3, "
            "TRUE, :bundle, '[]', '{}')"), {"bundle": b"x"})
    engine.dispose()
    with CentralDatabase(url).open() as database, database.transaction() as s:
        assert s.scalar(select(CentralMeta.value).where(CentralMeta.key == "schema_version")) == SCHEMA_VERSION == "3"
        assert s.execute(select(CentralImport.station_id, CentralImport.kind)).all() == [("AJK-1", "polling_station")]
