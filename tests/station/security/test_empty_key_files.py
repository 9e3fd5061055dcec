"""A key file of 0 bytes (an older release created the file, then a power cut came before its bytes did) and
`station init`. Such a file holds no key; `init` used to take it for one ("key already present") and leave the
station broken (doctor: "station key ... damaged (expected 32 bytes, found 0)").

Made again only when nothing can have been made with the key it was meant to hold: the database holds nothing
encrypted, signed or keyed with it. Otherwise the key existed once and was lost: a new one would orphan what the old
one made (templates that no longer decrypt, a log that no longer verifies), so `init` refuses in one line naming the
file and the way out (its backup), and changes nothing."""
from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cli.common import ExitCode
from station.cli.main import main
from station.db.models import AppliedPackage
from tests.station.cli.test_bad_input import assert_one_error
from tests.support.stations import ROLL_SEED, build_station

MADE_BY_INIT = ["template.key", "station-signing.key", "voter-ref.key", "package.key", "tls-ca.key"]


@pytest.fixture
def run(tmp_path, make_database_url):
    home, url = tmp_path / "home", make_database_url()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(main, ["--profile", "test", "--home", str(home), *args],
                                  env={"STATION_HOME": None, "STATION_PROFILE": None, "STATION_DATABASE__URL": url,
                                       **(env or {})})

    invoke.home, invoke.keys, invoke.url = home, home / "keys", url
    assert invoke("init").exit_code == 0
    return invoke


def log_entries(run) -> str:
    checks = json.loads(run("doctor", "--json").stdout)["checks"]
    return next(c["detail"] for c in checks if c["name"] == "match log")


@pytest.mark.parametrize("name", MADE_BY_INIT)
def test_an_empty_key_nothing_was_made_with_is_made_again_by_init(run, name):
    key = run.keys / name
    key.write_bytes(b"")
    result = run("init")
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if str(key) in line]
    assert len(said) == 1 and "empty" in said[0] and "made again" in said[0], result.output
    assert key.stat().st_size > 0 and stat.S_IMODE(key.stat().st_mode) == 0o600
    doctor = run("doctor")
    assert doctor.exit_code == 0, doctor.output  # the key reads, and keys/station.crt is the new signing key's
    if name == "tls-ca.key":
        issued = run("tls", "issue")  # the station CA signs again
        assert issued.exit_code == 0, issued.output
    again = run("init")
    assert again.exit_code == 0 and str(key) not in again.output  # repaired once


def make_log_entry(run) -> None:
    assert run("close-poll").exit_code == 0


def make_roll(run) -> None:
    st = build_station(run.home, run.url)
    try:
        st.synthesize_roll(2, ROLL_SEED)
    finally:
        st.close()


def take_checkpoint(run) -> None:
    """A signed tree checkpoint and no log entry: what every station holds after the server's first start (the
    opening checkpoint, signed with keys/station-signing.key)."""
    st = build_station(run.home, run.url)
    try:
        st.transparency.take("open")
    finally:
        st.close()
    shutil.rmtree(run.home / "audit" / "tree")  # its note file too: the database alone shows it here


def record_applied_package(run) -> None:
    st = build_station(run.home, run.url)
    try:
        with st.transaction() as s:
            s.add(AppliedPackage(package_id="p1", kind="full", version=1, polling_station="PS-001", signer="k",
                                 voters=2, removals=0, operator="test"))
    finally:
        st.close()


@pytest.mark.parametrize(("name", "make", "what"), [
    ("template.key", make_roll, "encrypted"),
    ("station-signing.key", make_log_entry, "log"),
    ("station-signing.key", take_checkpoint, "checkpoint"),
    ("voter-ref.key", make_log_entry, "log"),
    ("package.key", record_applied_package, "roll package"),
], ids=["template-roll", "signing-log", "signing-checkpoint", "voter-ref-log", "package-imported"])
def test_an_empty_key_the_database_depends_on_is_refused_and_nothing_changes(run, name, make, what):
    make(run)
    key, other = run.keys / name, run.keys / "tls-ca.key"
    key.write_bytes(b"")
    other.write_bytes(b"")  # one init repairs all or none
    before = log_entries(run)
    result = run("init")
    assert_one_error(result, {ExitCode.REFUSED})
    [line] = result.stderr.splitlines()
    assert str(key) in line and "empty" in line and what in line and "backup" in line, line
    assert key.stat().st_size == 0 and other.stat().st_size == 0
    assert log_entries(run) == before


def test_an_empty_signing_key_of_a_certified_station_is_refused(run):
    """A certificate issued by someone else for the key shows the key existed (it signed the request)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from tests.support.pki import Commission

    st = build_station(run.home, run.url)
    station_id = st.config.station.id
    st.close()
    key = load_pem_private_key((run.keys / "station-signing.key").read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    (run.keys / "station.crt").write_bytes(Commission().issue(key, station_id))
    (run.keys / "station-signing.key").write_bytes(b"")
    result = run("init")
    assert_one_error(result, {ExitCode.REFUSED})
    assert "station-signing.key" in result.stderr and "certificate" in result.stderr, result.stderr
    assert (run.keys / "station-signing.key").stat().st_size == 0


@pytest.mark.parametrize(("kept", "what"), [("seal.json", "closing seal"), ("tree", "checkpoint note"),
                                            ("checkpoints", "checkpoint file")])
def test_an_empty_signing_key_whose_signed_files_outlive_the_database_is_refused(run, make_database_url, kept, what):
    """The audit folder's signed files show the key existed even when the database does not (a new, empty one): the
    closing seal, the tree checkpoints' notes, the log's checkpoint files."""
    closed = run("close-poll", env={"STATION_AUDIT__CHECKPOINT_EVERY": "1"})  # a checkpoint file for entry 1 too
    assert closed.exit_code == 0, closed.output
    audit = run.home / "audit"
    for name in {"seal.json", "tree", "checkpoints"} - {kept}:
        (shutil.rmtree if (audit / name).is_dir() else Path.unlink)(audit / name)
    assert sorted(path.name for path in audit.iterdir()) == [kept]
    key = run.keys / "station-signing.key"
    key.write_bytes(b"")
    result = run("init", env={"STATION_DATABASE__URL": make_database_url()})
    assert_one_error(result, {ExitCode.REFUSED})
    [line] = result.stderr.splitlines()
    assert str(key) in line and what in line and "backup" in line, line
    assert key.stat().st_size == 0
