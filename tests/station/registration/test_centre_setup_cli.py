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

CENTRE, STATION = "CENTRE-07", "AJK-DEMO-01"
CLERK = Principal("clerk", "registration_officer")
PERSON = {"name_en": "New Voter", "relation": "father", "relative_name_en": "Father", "gender": "male",
          "date_of_birth": "1999-02-03", "address_en": "Bagh"}


@pytest.fixture
def cli(tmp_path, make_database_url):
    urls = {}
    for home, station_id in (("centre", CENTRE), ("station", STATION)):  # each home's id set before its init
        (tmp_path / home).mkdir(mode=0o700)
        (tmp_path / home / "station.toml").write_text(f'[station]\nid = "{station_id}"\npolling_station = "PS-001"\n')

    def invoke(home: str, *args: str):
        url = urls.setdefault(home, make_database_url())
        return CliRunner().invoke(main, ["--profile", "test", "--home", str(tmp_path / home), *args],
                                  env={"STATION_HOME": None, "STATION_PROFILE": None, "STATION_DATABASE__URL": url})

    def run(home: str, *args: str):
        """The command's JSON document (or its text, for `init`)."""
        result = invoke(home, *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if result.stdout.lstrip()[:1] in ("{", "[") else result.stdout

    run.urls, run.root, run.invoke = urls, tmp_path, invoke
    return run


def test_a_centre_set_up_as_documented_receives_its_polling_scheme_and_registers(cli):
    f = cli.root
    cli("commission", "init")
    cli("commission", "roll", "synth", "--voters", "1", "--seed", "4", "--workers", "1")  # the polling scheme
    cli("commission", "roll", "commission-init", "--out", str(f / "commission.pub"), "--cert-out",
        str(f / "commission.crt"))
    cli("centre", "init")
    cli("centre", "identity", "request", "--out", str(f / "centre07.csr"))
    cli("centre", "roll", "station-key", "--out", str(f / "centre-package.pub"))
    added = cli("commission", "roll", "add-centre", CENTRE, "--request", str(f / "centre07.csr"), "--out",
                str(f / "centre07.crt"), "--key", str(f / "centre-package.pub"), "--polling-station", "PS-001")
    assert added["centre"] == CENTRE and added["polling_station"] == "PS-001" and added["issued"]["serial"]
    listed = {s["station"]: (s["polling_station"], s["certified_as"])
              for s in cli("commission", "roll", "stations", "--json")}
    assert listed == {CENTRE: ("PS-001", "voter-station registration centre")}  # not a polling station's station
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


def commission_and_requests(cli) -> None:
    f = cli.root
    cli("commission", "init")
    cli("commission", "roll", "synth", "--voters", "1", "--seed", "4", "--workers", "1")  # the polling scheme
    cli("commission", "roll", "commission-init", "--out", str(f / "commission.pub"), "--cert-out",
        str(f / "commission.crt"))
    for home in ("centre", "station"):
        cli(home, "init")
        cli(home, "identity", "request", "--out", str(f / f"{home}.csr"))
        cli(home, "roll", "station-key", "--out", str(f / f"{home}-package.pub"))


def refused(result, *expected: str, code: int = 3) -> None:
    assert result.exit_code == code and result.stderr.count("\n") == 1, result.output
    assert all(e in result.stderr for e in expected), result.stderr


def test_add_centre_takes_the_package_key_and_the_polling_station_together(cli):
    """Checked before anything is read: on a home with nothing in it, nothing is issued or made."""
    f = cli.root
    refused(cli.invoke("commission", "roll", "add-centre", CENTRE, "--request", str(f / "centre.csr"), "--out",
                       str(f / "c.crt"), "--key", str(f / "centre-package.pub")),
            "--key and --polling-station go together", code=2)
    refused(cli.invoke("commission", "roll", "add-station", STATION, "--key", str(f / "station-package.pub"),
                       "--polling-station", "PS-001", "--request", str(f / "station.csr")),
            "--request and --out go together", code=2)
    assert not (f / "c.crt").exists() and not (f / "commission").exists()


def test_one_id_is_certified_for_one_role(cli):
    """A polling station's id certified again as a registration centre (or the reverse) would give one id two valid
    keys of two roles: the central database would take its files as both, each key replacing the other."""
    commission_and_requests(cli)
    f = cli.root
    cli("commission", "roll", "add-station", STATION, "--key", str(f / "station-package.pub"), "--polling-station",
        "PS-001", "--request", str(f / "station.csr"), "--out", str(f / "station.crt"))
    refused(cli.invoke("commission", "roll", "add-centre", STATION, "--request", str(f / "station.csr"), "--out",
                       str(f / "posing.crt")), f"{STATION} is certified as a polling station", "roll revoke")
    assert not (f / "posing.crt").exists()
    cli("commission", "roll", "add-centre", CENTRE, "--request", str(f / "centre.csr"), "--out", str(f / "c.crt"))
    refused(cli.invoke("commission", "roll", "add-station", CENTRE, "--key", str(f / "centre-package.pub"),
                       "--polling-station", "PS-001", "--request", str(f / "centre.csr"), "--out",
                       str(f / "as-station.crt")), f"{CENTRE} is certified as a registration centre")
    assert not (f / "as-station.crt").exists()
    listed = cli("commission", "roll", "certificates", "--json")["certificates"]
    assert sorted((c["subject"], c["role"]) for c in listed) == [
        (STATION, "voter-station match log"), (CENTRE, "voter-station registration centre")]
