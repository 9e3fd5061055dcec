"""`station central merge` and `central verify` refuse the results of a station whose certificate the commission
revoked (its --crl, or the centre home's keys/commission.crl): a stolen log key cannot report results."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from station.audit.identity import CERTIFICATE_FILE, ROLE_STATION, signing_request
from station.audit.revocation import Revocation, issue_revocation_list, load_revocation_list
from station.central import merge as central_merge
from station.central import results_export as sync
from station.central.db import CentralDatabase
from station.cli.sync import central
from station.packages.crypto import issue_certificate
from tests.support.cli import cli_for
from tests.support.pki import Commission
from tests.support.stations import build_station

pytestmark = pytest.mark.slow

STATION = "AJK-LA2-R"


@pytest.fixture(scope="module")
def files(tmp_path_factory, make_database_url):
    root = tmp_path_factory.mktemp("revoked-central")
    commission = Commission()
    st = build_station(root / "station", make_database_url(), station={"id": STATION, "polling_station": "PS-001"})
    try:
        st.init()
        csr = x509.load_pem_x509_csr(signing_request(st.config.keys_dir, STATION))
        cert = issue_certificate(commission.key, commission.cert, csr, STATION, ROLE_STATION)
        (st.config.keys_dir / CERTIFICATE_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        sync.export_results(root / "station.sync", config=st.config, transaction=st.transaction,
                            signer=st.log_signer)
    finally:
        st.close()
    revoked_at = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
    (root / "commission.crt").write_bytes(commission.pem)
    (root / "commission.crl").write_bytes(issue_revocation_list(
        commission.key, commission.cert, [Revocation(cert.serial_number, revoked_at, "privilege-withdrawn")], 4))
    return {"root": root, "commission": commission, "sync": root / "station.sync", "crt": root / "commission.crt",
            "crl": root / "commission.crl", "serial": format(cert.serial_number, "x")}


def run_central(home, *args):
    return CliRunner().invoke(cli_for(central, home), ["central", *args],
                              env={"STATION_HOME": None, "STATION_PROFILE": None, "STATION_CENTRAL_DB_URL": None})


def test_merge_refuses_a_revoked_station_s_export(files, make_database_url):
    revocations = load_revocation_list(files["crl"].read_bytes(), files["commission"].cert)
    database = CentralDatabase(make_database_url()).open()
    try:
        result = central_merge.merge_files(database, [files["sync"]], commission_pem=files["commission"].pem,
                                           revocations=revocations)
        [refused] = result["files"]
        assert refused["status"] == "refused" and result["imported"] == 0
        assert f"station '{STATION}'" in refused["reason"] and f"serial {files['serial']}" in refused["reason"]
        assert "revoked by the commission on 2026-11-29 12:00 UTC (privilege-withdrawn)" in refused["reason"]
        # the attack: without the list the same file is imported
        assert central_merge.merge_files(database, [files["sync"]],
                                         commission_pem=files["commission"].pem)["imported"] == 1
    finally:
        database.close()


def test_central_merge_and_verify_commands_take_the_list(files, tmp_path, make_database_url):
    url = make_database_url()
    out = run_central(tmp_path, "merge", "--db", url, "--commission-cert", str(files["crt"]), "--crl",
                      str(files["crl"]), str(files["sync"]))
    assert out.exit_code == 1, out.output
    assert json.loads(out.stdout)["refused"] == 1 and "revoked by the commission" in out.stderr
    out = run_central(tmp_path, "verify", "--commission-cert", str(files["crt"]), "--crl", str(files["crl"]),
                      str(files["sync"]))
    assert out.exit_code == 1 and "revoked by the commission" in json.loads(out.stdout)["reason"]
    # the centre's home holds the list: no --crl needed
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "commission.crl").write_bytes(files["crl"].read_bytes())
    out = run_central(tmp_path, "verify", "--commission-cert", str(files["crt"]), str(files["sync"]))
    assert out.exit_code == 1 and "revoked by the commission" in out.stderr
