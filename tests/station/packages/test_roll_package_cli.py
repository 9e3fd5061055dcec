"""`station roll ...` package commands in-process: the contract's exit codes, one-line errors and JSON output."""
from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from station.cli.main import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli(tmp_path_factory, make_database_url):
    root = tmp_path_factory.mktemp("roll-cli")
    urls = {"com": make_database_url(), "st": make_database_url()}
    (root / "st").mkdir(mode=0o700)
    (root / "st" / "station.toml").write_text('[station]\nid = "ST-CLI"\npolling_station = "PS-001"\n')

    def run(home: str, *args: str):
        result = CliRunner().invoke(main, ["--profile", "test", "--home", str(root / home), *args],
                                    env={"STATION_HOME": None, "STATION_PROFILE": None,
                                         "STATION_DATABASE__URL": urls[home]})
        assert "Traceback" not in result.output, result.output
        return result

    run.root = root
    return run


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[-1])


def error(result, *expected: str, code: int = 3) -> str:
    assert result.exit_code == code, result.output  # 3 refused, 2 a file that does not exist (docs/cli.md)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(e in lines[0] for e in expected), lines[0]
    return lines[0]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_package_commands_end_to_end(cli):
    root = cli.root
    assert cli("com", "init").exit_code == 0
    assert cli("com", "roll", "synth", "--voters", "12", "--seed", "4", "--workers", "1").exit_code == 0
    error(cli("com", "roll", "package", "--station", "ST-CLI", "--out", str(root / "x.pkg")), "commission-init")
    key = ok(cli("com", "roll", "commission-init", "--out", str(root / "commission.pub")))
    assert key["created"] and key["revision"] == 1
    assert mode(root / "com" / "keys" / "commission-signing.key") == 0o600
    assert not ok(cli("com", "roll", "commission-init"))["created"]

    assert cli("st", "init").exit_code == 0
    station_key = ok(cli("st", "roll", "station-key", "--out", str(root / "station.pub")))
    assert station_key["station"] == "ST-CLI" and mode(root / "st" / "keys" / "package.key") == 0o600
    added = ok(cli("com", "roll", "add-station", "ST-CLI", "--key", str(root / "station.pub"),
                   "--polling-station", "PS-001"))
    assert added["key_id"] == station_key["key_id"]
    error(cli("com", "roll", "add-station", "ST-CLI", "--key", str(root / "station.pub"), "--polling-station",
              "PS-001"), "already registered")
    error(cli("com", "roll", "add-station", "ST-X", "--key", str(root / "commission.pub"), "--polling-station",
              "PS-001"), "not an X25519")
    error(cli("com", "roll", "package", "--station", "NOPE", "--out", str(root / "x.pkg")), "no station 'NOPE'")

    refused = error(cli("com", "roll", "package", "--station", "ST-CLI", "--out", str(root)), code=2)
    assert refused == f"error: cannot write {root}: it is a folder"  # the path given, not a temporary file
    full = ok(cli("com", "roll", "package", "--station", "ST-CLI", "--out", str(root / "full.pkg")))
    assert full["kind"] == "full" and full["version"] == 1 and full["voters"] >= 2
    error(cli("st", "roll", "import", str(root / "full.pkg")), "no trusted commission key", "station roll trust")
    trusted = ok(cli("st", "roll", "trust", str(root / "commission.pub")))
    assert trusted["key_id"] == key["key_id"] and mode(trusted["installed"]) == 0o600
    before = cli("st", "roll", "hash").stdout.strip()

    data = (root / "full.pkg").read_bytes()
    (root / "tampered.pkg").write_bytes(data[:-200] + bytes([data[-200] ^ 1]) + data[-199:])
    error(cli("st", "roll", "import", str(root / "tampered.pkg")), "signature does not verify")
    (root / "garbage.pkg").write_bytes(b"hello")
    error(cli("st", "roll", "import", str(root / "garbage.pkg")), "not a roll package")
    error(cli("st", "roll", "import", str(root / "missing.pkg")), "missing.pkg", code=2)
    assert cli("st", "roll", "hash").stdout.strip() == before

    imported = ok(cli("st", "roll", "import", str(root / "full.pkg")))
    assert imported["version"] == 1 and imported["added"] == full["voters"]
    station_hash = cli("st", "roll", "hash").stdout.strip()
    assert len(station_hash) == 64 and station_hash != before
    assert station_hash == cli("com", "roll", "hash", "--polling-station", "PS-001").stdout.strip()
    error(cli("st", "roll", "import", str(root / "full.pkg")), "already applied")

    cnics = [voter["cnic"] for voter in json.loads(cli("st", "roll", "list", "--json").stdout)]
    removed = ok(cli("com", "roll", "remove", cnics[0], "--reason", "deceased"))
    assert removed["revision"] == 2
    corrected = ok(cli("com", "roll", "correct", cnics[1], "--set", "address_en=House 7, Bazaar Road"))
    assert corrected["revision"] == 3 and corrected["corrected"] == ["address_en"]
    error(cli("com", "roll", "correct", cnics[1], "--set", "colour=blue"), "cannot be corrected")
    error(cli("com", "roll", "correct", cnics[1], "--set", "date_of_birth=yesterday"), "YYYY-MM-DD")
    # typed text as the registration form takes it: no escape sequence or line break into the roll (roll list
    # prints it), nothing invisible
    error(cli("com", "roll", "correct", cnics[1], "--set", "name_en=Ali\x1b[2JKhan"), "name_en", "U+001B")
    error(cli("com", "roll", "correct", cnics[1], "--set", "address_en=House 7\nBazaar"), "address_en", "U+000A")
    error(cli("com", "roll", "correct", cnics[1], "--set", "name_en=\u200b"), "name_en is empty")
    error(cli("com", "roll", "remove", "12345-0000000-1", "--reason", "deceased"), "not on the roll")

    delta = ok(cli("com", "roll", "package", "--station", "ST-CLI", "--base", "1", "--out", str(root / "d.pkg")))
    assert (delta["kind"], delta["base_version"], delta["version"], delta["removals"]) == ("delta", 1, 3, 1)
    error(cli("st", "roll", "import", str(root / "full.pkg")), "already applied")
    applied = ok(cli("st", "roll", "import", str(root / "d.pkg")))
    assert (applied["removed"], applied["updated"]) == (1, 1)
    assert cli("st", "roll", "hash").stdout.strip() == cli("com", "roll", "hash", "--polling-station",
                                                             "PS-001").stdout.strip()
    status = ok(cli("st", "roll", "status"))
    assert status["roll_version"] == 3 and status["roll_polling_station"] == "PS-001"
    assert ok(cli("com", "roll", "status"))["commission"] == {"revision": 3, "stations": 1}
    as_json = ok(cli("st", "roll", "hash", "--json"))
    assert as_json["version"] == 3 and as_json["roll_hash"] == cli("st", "roll", "hash").stdout.strip()

    # removed in error: the commission puts the voter back under a new revision, and the next delta brings them, with
    # their references, to a station that had applied the removal
    error(cli("com", "roll", "reinstate", cnics[1], "--reason", "in_error"), "is not removed", "status active")
    error(cli("com", "roll", "reinstate", "12345-0000000-1", "--reason", "in_error"), "not on the commission's roll")
    back = ok(cli("com", "roll", "reinstate", cnics[0], "--reason", "in_error"))
    assert (back["cnic"], back["reinstated"], back["revision"], back["polling_station"]) == (
        cnics[0], "in_error", 4, "PS-001")
    ok(cli("com", "roll", "package", "--station", "ST-CLI", "--base", "3", "--out", str(root / "d4.pkg")))
    assert ok(cli("st", "roll", "import", str(root / "d4.pkg")))["added"] == 1
    assert cnics[0] in {voter["cnic"] for voter in json.loads(cli("st", "roll", "list", "--json").stdout)}
    assert cli("st", "roll", "hash").stdout.strip() == cli("com", "roll", "hash", "--polling-station",
                                                             "PS-001").stdout.strip()


def test_bench_roll_scale_runs_and_round_trips(tmp_path):
    result = CliRunner().invoke(main, ["bench", "roll-scale", "--voters", "200", "--base-templates", "4",
                                       "--workers", "1", "--lookups", "20", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["voters"] == 200 and out["references"] == 600 and out["hash_matches_commission"] is True
    assert out["lookup_service"]["n"] == 20 and "perturbing" in out["templates"]


def test_bench_roll_scale_refuses_a_database_that_is_not_empty(tmp_path, make_database_url):
    """``--database-url`` is for an empty database: given a station's own, the bench used to initialise a station of
    its own in it and sign an entry into that station's append-only log (its chain then failed). Refused first, in
    one line, before any work; the station's database is untouched."""
    from tests.support.stations import build_station

    st = build_station(tmp_path / "home", make_database_url())
    st.init()
    url = st.config.database_url
    with st.transaction() as s:
        from station.audit import log as matchlog
        before = matchlog.count(s)
    result = CliRunner().invoke(main, ["bench", "roll-scale", "--voters", "100", "--base-templates", "4",
                                       "--workers", "1", "--lookups", "10", "--database-url", url])
    assert result.exit_code == 3, result.output  # REFUSED: nothing was changed
    assert result.output.startswith("error: ") and "not empty" in result.output and len(result.output.splitlines()) == 1
    with st.transaction() as s:
        assert matchlog.count(s) == before
    assert st.audit.verify_live_log() == []
    st.close()
