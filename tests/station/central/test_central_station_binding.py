"""A results file counts for a polling station only when the COMMISSION says its signer serves it: the signer's
certificate must be the commission's for a polling station (a registration centre's file counts for none:
test_central_centres.py), and, when the verifier holds the commission's register of stations (`station roll stations
--json`, or the commission's own home), the polling station the file claims must be the one registered for the
signing station id.

The attacks (an auditor's repro): station AJK-DEMO-02, registered at PS-002 and genuinely certified, exports with its
configuration saying PS-001 (`STATION_STATION__POLLING_STATION=PS-001 station sync export`): merged, PS-001 would count
as reported by AJK-DEMO-02. It is refused, and a refused file writes nothing to the central database."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from station.audit.identity import CERTIFICATE_FILE, ROLE_STATION, signing_request
from station.central import merge as central_merge
from station.central import results_export as sync
from station.central.errors import SyncFileRejected
from station.central.register import home_register, load_register
from station.central.verify import verify_export
from station.cli.sync import central
from station.db.models import PackageTarget, utcnow
from station.errors import InvalidInput
from station.packages.crypto import issue_certificate
from tests.support.cli import cli_for
from tests.support.pki import Commission
from tests.support.stations import build_station
from tests.station.central.test_sync_central import row_counts

pytestmark = pytest.mark.slow

STATION, REGISTERED_AT, CLAIMED = "AJK-DEMO-02", "PS-002", "PS-001"
CENTRE = "CENTRE-07"


def export(home, url, station_id: str, polling_station: str, out):
    """``station sync export`` of the station at ``home``, its configuration saying ``polling_station``."""
    st = build_station(home, url, station={"id": station_id, "polling_station": polling_station})
    try:
        st.init()
        sync.export_results(out, config=st.config, transaction=st.transaction, signer=st.log_signer)
    finally:
        st.close()
    return out


def certify(home, url, station_id: str, commission: Commission, role: str) -> None:
    """`station identity request` -> the commission issues (`roll add-station/add-centre --request`) -> installed."""
    st = build_station(home, url, station={"id": station_id})
    try:
        st.init()
        csr = x509.load_pem_x509_csr(signing_request(st.config.keys_dir, station_id))
        cert = issue_certificate(commission.key, commission.cert, csr, station_id, role)
        (st.config.keys_dir / CERTIFICATE_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    finally:
        st.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory, make_database_url):
    root = tmp_path_factory.mktemp("station-binding")
    commission = Commission()
    s2, s2_url = root / "S2", make_database_url()
    certify(s2, s2_url, STATION, commission, ROLE_STATION)
    genuine = export(s2, s2_url, STATION, REGISTERED_AT, root / "s2.sync")
    posing = export(s2, s2_url, STATION, CLAIMED, root / "s2-as-ps001.sync")  # the same station, key and certificate
    register = root / "stations.json"  # what `station roll stations --json` prints at the commission
    register.write_text("[" + json.dumps({"station": STATION, "polling_station": REGISTERED_AT, "key_id": "k2"})
                        + ",\n" + json.dumps({"station": CENTRE, "polling_station": "PS-003", "key_id": "k7"})
                        + "]\n")
    return {"commission": commission, "genuine": genuine, "posing": posing,
            "register": load_register(register), "register_file": register}


def test_a_file_claiming_another_polling_station_than_the_registered_one_is_refused(files, central_db):
    pem, register = files["commission"].pem, files["register"]
    with pytest.raises(SyncFileRejected, match=f"claims polling station {CLAIMED}, but the commission registered "
                                               f"station {STATION} at {REGISTERED_AT}"):
        verify_export(files["posing"].read_bytes(), commission_pem=pem, register=register)
    before = row_counts(central_db)
    result = central_merge.merge_files(central_db, [files["posing"]], commission_pem=pem, register=register)
    [refused] = result["files"]
    assert refused["status"] == "refused" and result["imported"] == 0
    assert f"registered station {STATION} at {REGISTERED_AT}" in refused["reason"]
    assert row_counts(central_db) == before  # nothing of it written: PS-001 is not reported by AJK-DEMO-02
    assert result["stations_reported"] == []
    # the genuine file of the same station, key and certificate is accepted, at its registered polling station
    result = central_merge.merge_files(central_db, [files["genuine"]], commission_pem=pem, register=register)
    assert result["imported"] == 1, result["files"]
    assert [(s["station"], s["polling_station"]) for s in result["stations_reported"]] == [(STATION, REGISTERED_AT)]


def test_a_station_the_commission_never_registered_is_refused_when_the_register_is_held(files):
    register = {k: v for k, v in files["register"].items() if k != STATION}
    with pytest.raises(SyncFileRejected, match=f"station {STATION} is not in the commission's register"):
        verify_export(files["genuine"].read_bytes(), commission_pem=files["commission"].pem, register=register)


def run_central(home, *args):
    return CliRunner().invoke(cli_for(central, home), ["central", *args],
                              env={"STATION_HOME": None, "STATION_PROFILE": None, "STATION_CENTRAL_DB_URL": None})


def test_without_the_register_the_claim_is_accepted_but_said_to_be_unchecked(files):
    verified = verify_export(files["genuine"].read_bytes(), commission_pem=files["commission"].pem)
    assert any("not checked against the commission's register" in w for w in verified.warnings), verified.warnings
    checked = verify_export(files["genuine"].read_bytes(), commission_pem=files["commission"].pem,
                            register=files["register"])
    assert not any("register" in w for w in checked.warnings), checked.warnings


def test_the_register_is_read_from_roll_stations_json_and_refused_when_it_is_not_one(files, tmp_path):
    assert files["register"] == {STATION: REGISTERED_AT, CENTRE: "PS-003"}
    for text in ("not json", '{"station": "X"}', '[{"station": "X"}]', '[{"station": 1, "polling_station": "P"}]',
                 '[{"station": "X", "polling_station": "P1"}, {"station": "X", "polling_station": "P2"}]'):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(InvalidInput, match="register"):
            load_register(bad)


def test_the_commission_s_home_holds_the_register(tmp_path, make_database_url):
    st = build_station(tmp_path / "commission", make_database_url(), station={"id": "COMMISSION"})
    try:
        st.init()
        assert home_register(st.config) is None  # a home that registers no station holds no register
        with st.transaction() as s:
            s.add(PackageTarget(station_id=STATION, polling_station=REGISTERED_AT, public_key="00" * 32,
                                key_id="k2", added_at=utcnow()))
        assert home_register(st.config) == {STATION: REGISTERED_AT}
    finally:
        st.close()
    # a home without a database holds none, and none is made
    empty = build_station(tmp_path / "auditor", f"sqlite:///{tmp_path}/auditor/station.db", station={"id": "A"})
    try:
        assert home_register(empty.config) is None
        assert not (tmp_path / "auditor" / "station.db").exists()
    finally:
        empty.close()


# --- the command line: --register FILE, else the commission's own home ---

def test_central_verify_and_merge_refuse_the_claim_against_the_register_given(files, tmp_path, make_database_url):
    crt = tmp_path / "commission.crt"
    crt.write_bytes(files["commission"].pem)
    anchor = ("--commission-cert", str(crt), "--register", str(files["register_file"]))
    out = run_central(tmp_path, "verify", *anchor, str(files["posing"]))
    assert out.exit_code == 1 and json.loads(out.stdout)["ok"] is False, out.output
    assert out.stderr.count("\n") == 1 and f"registered station {STATION} at {REGISTERED_AT}" in out.stderr
    out = run_central(tmp_path, "verify", *anchor, str(files["genuine"]))
    assert out.exit_code == 0 and json.loads(out.stdout)["polling_station"] == REGISTERED_AT, out.output
    out = run_central(tmp_path, "merge", "--db", make_database_url(), *anchor, str(files["posing"]),
                      str(files["genuine"]))
    assert out.exit_code == 1, out.output
    summary = json.loads(out.stdout)
    assert [f["status"] for f in summary["files"]] == ["refused", "imported"]
    assert [(s["station"], s["polling_station"]) for s in summary["stations_reported"]] == [(STATION, REGISTERED_AT)]


def test_central_verify_at_the_commission_s_home_uses_its_register(files, tmp_path):
    home = tmp_path / "commission"
    st = build_station(home, f"sqlite:///{home}/station.db", station={"id": "COMMISSION"})
    try:
        st.init()
        with st.transaction() as s:
            s.add(PackageTarget(station_id=STATION, polling_station=REGISTERED_AT, public_key="00" * 32,
                                key_id="k2", added_at=utcnow()))
    finally:
        st.close()
    crt = tmp_path / "commission.crt"
    crt.write_bytes(files["commission"].pem)
    out = run_central(home, "verify", "--commission-cert", str(crt), str(files["posing"]))
    assert out.exit_code == 1 and f"registered station {STATION} at {REGISTERED_AT}" in out.stderr, out.output
    out = run_central(tmp_path / "auditor", "verify", "--commission-cert", str(crt), str(files["posing"]))
    assert out.exit_code == 0, out.output  # no register held: accepted, and said to be unchecked
    assert any("not checked against the commission's register" in w for w in json.loads(out.stdout)["warnings"])
