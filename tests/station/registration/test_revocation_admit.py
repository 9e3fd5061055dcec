"""`station roll admit` refuses the registrations file of a centre whose certificate the commission revoked: the
centre's key may be in other hands, and the file's signature cannot prove it was made before the revocation."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from station.audit.identity import CERTIFICATE_FILE, signing_request
from station.cli.main import main
from station.packages.crypto import create_commission_certificate, create_package_key, load_package_key, public_pem
from station.registration.transfer import export_registrations
from tests.support.roll_packages import commission_station
from tests.support.stations import build_station

pytestmark = pytest.mark.slow


def test_admit_refuses_a_revoked_centre_s_registrations(tmp_path, make_database_url):
    url = make_database_url()
    commission = commission_station(tmp_path / "com", url, 6)
    centre = build_station(tmp_path / "centre", make_database_url(),
                           station={"id": "CENTRE-REV", "polling_station": "PS-001"})
    try:
        create_commission_certificate(commission.config.keys_dir)
        create_package_key(commission.config.keys_dir)  # registrations are encrypted for it
        (tmp_path / "com" / "station.toml").write_text('[station]\nid = "COMMISSION"\n')
        centre.init()

        def cli(*args: str):
            result = CliRunner().invoke(main, ["--profile", "test", "--home", str(tmp_path / "com"), *args],
                                        env={"STATION_HOME": None, "STATION_PROFILE": None,
                                             "STATION_DATABASE__URL": url})
            assert "Traceback" not in result.output, result.output
            return result

        (tmp_path / "centre.csr").write_bytes(signing_request(centre.config.keys_dir, "CENTRE-REV"))
        added = cli("roll", "add-centre", "CENTRE-REV", "--request", str(tmp_path / "centre.csr"), "--out",
                    str(tmp_path / "centre.crt"))
        assert added.exit_code == 0, added.output
        (centre.config.keys_dir / CERTIFICATE_FILE).write_bytes((tmp_path / "centre.crt").read_bytes())
        out = tmp_path / "centre.reg"
        export_registrations(public_pem(load_package_key(commission.config.keys_dir).public_key()), out,
                             transaction=centre.transaction, cipher=centre.cipher, signer=centre.log_signer,
                             keys_dir=centre.config.keys_dir)

        before = cli("roll", "admit", str(out))  # the attack, before the revocation: the file is admitted
        assert before.exit_code == 0, before.output
        assert json.loads(before.stdout)["station"] == "CENTRE-REV"

        assert cli("roll", "revoke", "CENTRE-REV", "--reason", "key-compromise").exit_code == 0
        after = cli("roll", "admit", str(out))  # the commission's own keys/commission.crl
        assert after.exit_code not in (0, 1) and after.stdout == ""
        assert after.stderr.count("\n") == 1 and "station 'CENTRE-REV'" in after.stderr
        assert "was revoked by the commission" in after.stderr and "(key-compromise)" in after.stderr
        exported = cli("roll", "crl", "--out", str(tmp_path / "commission.crl"))
        assert exported.exit_code == 0
        explicit = cli("roll", "admit", str(out), "--crl", str(tmp_path / "commission.crl"))
        assert explicit.exit_code not in (0, 1) and "was revoked by the commission" in explicit.stderr
    finally:
        centre.close()
        commission.close()
