"""A registration centre is set up from the commission's documented steps alone (docs/commission-pki.md, the
ceremony): `roll add-centre` certifies it and, given its package key and a polling station, registers it for roll
packages, which bring it the polling scheme of its constituency (and the roll it searches for duplicates). Found by
following the documents (session 43): a centre set up as written had no polling scheme, and every registration was
refused "unknown polling station"."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from station.cli.main import main
from station.errors import InvalidInput
from station.security.users import Principal
from tests.support.stations import build_station

pytestmark = pytest.mark.slow

CENTRE = "CENTRE-07"
CLERK = Principal("clerk", "registration_officer")
PERSON = {"name_en": "New Voter", "relation": "father", "relative_name_en": "Father", "gender": "male",
          "date_of_birth": "1999-02-03", "address_en": "Bagh"}


@pytest.fixture
def cli(tmp_path, make_database_url):
    urls = {"commission": make_database_url(), "centre": make_database_url()}
    (tmp_path / "centre").mkdir(mode=0o700)
    (tmp_path / "centre" / "station.toml").write_text(f'[station]\nid = "{CENTRE}"\npolling_station = "PS-001"\n')

    def run(home: str, *args: str):
        """The command's JSON document (or its text, for `init`)."""
        result = CliRunner().invoke(main, ["--profile", "test", "--home", str(tmp_path / home), *args],
                                    env={"STATION_HOME": None, "STATION_PROFILE": None,
                                         "STATION_DATABASE__URL": urls[home]})
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if result.stdout.lstrip()[:1] in ("{", "[") else result.stdout

    run.urls, run.root = urls, tmp_path
    return run


def test_a_centre_set_up_as_documented_receives_its_polling_scheme_and_registers(cli):
    f = cli.root
    cli("commission", "init")
    cli("commission", "roll", "synth", "--voters", "12", "--seed", "4", "--workers", "1")
    cli("commission", "roll", "commission-init", "--out", str(f / "commission.pub"), "--cert-out",
        str(f / "commission.crt"))
    cli("centre", "init")
    cli("centre", "identity", "request", "--out", str(f / "centre07.csr"))
    cli("centre", "roll", "station-key", "--out", str(f / "centre-package.pub"))
    added = cli("commission", "roll", "add-centre", CENTRE, "--request", str(f / "centre07.csr"), "--out",
                str(f / "centre07.crt"), "--key", str(f / "centre-package.pub"), "--polling-station", "PS-001")
    assert added["centre"] == CENTRE and added["polling_station"] == "PS-001" and added["issued"]["serial"]
    listed = {s["station"]: s["polling_station"] for s in cli("commission", "roll", "stations", "--json")}
    assert listed == {CENTRE: "PS-001"}
    cli("centre", "identity", "install", str(f / "centre07.crt"), "--commission-cert", str(f / "commission.crt"))
    cli("centre", "roll", "trust", str(f / "commission.pub"))

    centre = build_station(f / "centre", cli.urls["centre"], station={"id": CENTRE, "polling_station": "PS-001"})
    try:
        with pytest.raises(InvalidInput, match="unknown polling station 'PS-002'"):  # no scheme yet
            centre.registration.start(CLERK, "84001-0000001-1", PERSON, polling_station="PS-002")
    finally:
        centre.close()
    cli("commission", "roll", "package", "--station", CENTRE, "--out", str(f / "centre.pkg"))
    cli("centre", "roll", "import", str(f / "centre.pkg"))
    centre = build_station(f / "centre", cli.urls["centre"], station={"id": CENTRE, "polling_station": "PS-001"})
    try:  # a registrant may belong to any polling station of the constituency's scheme
        for n, polling_station in enumerate(("PS-001", "PS-002"), 1):
            view = centre.registration.start(CLERK, f"84001-000000{n}-1", PERSON, polling_station=polling_station)
            assert view.state == "CAPTURING", view
    finally:
        centre.close()


def test_add_centre_takes_the_package_key_and_the_polling_station_together(cli):
    f = cli.root
    cli("commission", "init")
    cli("commission", "roll", "commission-init", "--out", str(f / "commission.pub"), "--cert-out",
        str(f / "commission.crt"))
    cli("centre", "init")
    cli("centre", "identity", "request", "--out", str(f / "centre07.csr"))
    cli("centre", "roll", "station-key", "--out", str(f / "centre-package.pub"))
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(f / "commission"), "roll", "add-centre",
                                       CENTRE, "--request", str(f / "centre07.csr"), "--out", str(f / "c.crt"),
                                       "--key", str(f / "centre-package.pub")],
                                env={"STATION_HOME": None, "STATION_PROFILE": None,
                                     "STATION_DATABASE__URL": cli.urls["commission"]})
    assert result.exit_code == 3 and result.stderr.count("\n") == 1, result.output
    assert "--key and --polling-station go together" in result.stderr
    assert not (f / "c.crt").exists()  # nothing issued
