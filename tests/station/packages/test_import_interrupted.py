"""A roll import killed between replacing keys/voter-ref.key (and keys/commission.crl) and the database commit: the
next command opening the station, the next import and doctor put the key files back to what the database records, so
the match log always names the voter-reference key in force (a ``voter_key_installed`` entry per change)."""
from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from station.audit import identity
from station.audit.chain import voter_key_id
from station.audit.revocation import CRL_FILE
from station.cli.main import main
from station.packages import importing
from station.packages.build import build_package
from station.packages.certificates import current_list
from station.packages.crypto import load_commission_key
from tests.station.packages import test_revocation_packages as revocation
from tests.station.packages.test_revocation_packages import PS, events, roll_version

commission, make_station = revocation.commission, revocation.make_station  # its fixtures, reused

pytestmark = pytest.mark.slow


def package(commission, station_id: str) -> bytes:
    """A full package carrying the election's voter-reference key and a newly signed revocation list."""
    keys = commission.config.keys_dir
    with commission.transaction() as s:
        return build_package(s, commission.cipher, load_commission_key(keys), station_id,
                             log_signer=commission.flow.log,
                             voter_key=identity.load_election_voter_key(keys, create=True),
                             revocation_list=current_list(s, keys, renew=True)).data


class Killed(BaseException):
    """Stands for kill -9: not an Exception, and the import's clean-up is switched off (a kill runs none)."""


def killed_before_the_commit(st, data: bytes, monkeypatch) -> None:
    """Import ``data`` and die after both key files were replaced, before the transaction commits."""
    real = importing.install_revocation_list

    def then_killed(*args, **kwargs):
        real(*args, **kwargs)
        raise Killed()

    monkeypatch.setattr(importing, "install_revocation_list", then_killed)
    monkeypatch.setattr(importing.PackageImporter, "_undo_key_files", lambda *args, **kwargs: None)
    with pytest.raises(Killed):
        st.packages.import_package(data)
    monkeypatch.undo()
    assert roll_version(st) == 0 and not events(st, "voter_key_installed")  # the database never committed


def cli(st, *args: str):
    (st.config.home / "station.toml").write_text(
        f'[station]\nid = "{st.config.station.id}"\npolling_station = "{PS}"\n')
    return CliRunner().invoke(main, ["--profile", "test", "--home", str(st.config.home), *args],
                              env={"STATION_HOME": None, "STATION_PROFILE": None,
                                   "STATION_DATABASE__URL": st.config.database_url})


def assert_reimport_logs_the_key(st, data: bytes, old_key: bytes) -> None:
    result = st.packages.import_package(data)  # the operator runs the same import again
    assert result.voter_key_installed and result.crl_installed
    new_key = identity.read_voter_key(st.config.keys_dir / identity.VOTER_KEY_FILE)
    [installed] = events(st, "voter_key_installed")
    assert installed["details"]["key_id"] == voter_key_id(new_key) == result.voter_key
    assert installed["details"]["previous_key_id"] == voter_key_id(old_key)
    assert len(events(st, "crl_installed")) == 1


def interrupted_import(commission, make_station, monkeypatch, station_id: str):
    """A station whose import of a package for it was killed before the commit: (station, package, its old key)."""
    st = make_station(station_id)
    old_key = identity.read_voter_key(st.config.keys_dir / identity.VOTER_KEY_FILE)
    data = package(commission, station_id)
    killed_before_the_commit(st, data, monkeypatch)
    return st, data, old_key


def test_the_next_import_undoes_key_files_the_killed_import_never_committed(commission, make_station, monkeypatch):
    st, data, old_key = interrupted_import(commission, make_station, monkeypatch, "ST-KILL-1")
    assert_reimport_logs_the_key(st, data, old_key)


def test_a_command_opening_the_station_puts_the_key_files_back(commission, make_station, monkeypatch):
    st, data, old_key = interrupted_import(commission, make_station, monkeypatch, "ST-KILL-2")
    keys = st.config.keys_dir
    opened = cli(st, "roll", "status")
    assert opened.exit_code == 0, opened.output
    assert identity.read_voter_key(keys / identity.VOTER_KEY_FILE) == old_key  # the key the database knows
    assert not (keys / CRL_FILE).exists()
    checks = {name: (ok, detail) for name, ok, detail in st.doctor()}
    assert checks["roll import key files"][0], checks["roll import key files"]
    assert_reimport_logs_the_key(st, data, old_key)


def test_doctor_settles_and_names_an_interrupted_import(commission, make_station, monkeypatch):
    st, _, old_key = interrupted_import(commission, make_station, monkeypatch, "ST-KILL-3")
    keys = st.config.keys_dir
    checks = {name: (ok, detail) for name, ok, detail in st.doctor()}
    ok, detail = checks["roll import key files"]
    assert ok and "interrupted" in detail and "put back" in detail, detail
    assert identity.read_voter_key(keys / identity.VOTER_KEY_FILE) == old_key


def test_a_kill_after_the_commit_keeps_the_new_key(commission, make_station, monkeypatch):
    """The commit came first: the database names the new key, which stays; only the undo record goes."""
    st = make_station("ST-KILL-4")
    keys = st.config.keys_dir
    real_finish = importing.forget_undo_record
    monkeypatch.setattr(importing, "forget_undo_record", lambda *args: (_ for _ in ()).throw(Killed()))
    monkeypatch.setattr(importing.PackageImporter, "_undo_key_files", lambda *args, **kwargs: None)
    with pytest.raises(Killed):
        st.packages.import_package(package(commission, "ST-KILL-4"))
    monkeypatch.setattr(importing, "forget_undo_record", real_finish)
    assert (keys / importing.UNDO_FILE).exists() and roll_version(st) > 0
    new_key = identity.read_voter_key(keys / identity.VOTER_KEY_FILE)
    assert importing.settle_key_files(st.transaction, keys) == "committed"
    assert not (keys / importing.UNDO_FILE).exists()
    assert identity.read_voter_key(keys / identity.VOTER_KEY_FILE) == new_key
    assert [e["details"]["key_id"] for e in events(st, "voter_key_installed")] == [voter_key_id(new_key)]
    assert (keys / CRL_FILE).exists()


def test_settling_waits_for_a_first_import_still_running(commission, make_station, monkeypatch):
    """A command opening the station while its first import runs in another process (a thread here) must wait for the
    import's lock, not settle that import's undo record under it: putting the old key back while the import commits
    the new one would leave a key file the log does not name. Found by an audit: on PostgreSQL a fresh station has no
    roll_version row yet, and locking a missing row locks nothing (SQLite's BEGIN IMMEDIATE always waited)."""
    st = make_station("ST-KILL-5")
    keys = st.config.keys_dir
    data = package(commission, "ST-KILL-5")
    replaced, go, results = threading.Event(), threading.Event(), {}
    real = importing.install_revocation_list

    def replaced_then_paused(*args, **kwargs):
        previous = real(*args, **kwargs)
        replaced.set()
        go.wait(60)
        return previous

    monkeypatch.setattr(importing, "install_revocation_list", replaced_then_paused)
    importer = threading.Thread(target=lambda: results.update(imported=st.packages.import_package(data)))
    importer.start()
    try:
        assert replaced.wait(120), "the import never reached its key files"
        settler = threading.Thread(
            target=lambda: results.update(settled=importing.settle_key_files(st.transaction, keys)))
        settler.start()
        settler.join(2)
        waited = settler.is_alive()
    finally:
        go.set()
        importer.join(120)
    settler.join(120)
    assert waited, f"settled under a running import: {results.get('settled')}"
    assert results["imported"].voter_key_installed and results["settled"] in (None, "committed")
    [installed] = events(st, "voter_key_installed")
    held = identity.read_voter_key(keys / identity.VOTER_KEY_FILE)
    assert voter_key_id(held) == installed["details"]["key_id"]  # the file holds the key the log names


def test_a_running_server_puts_the_key_files_back_before_it_writes(commission, make_station, monkeypatch, tmp_path):
    """A server that was running while an import in another process was killed: before, it went on keying voter
    entries with the key file the import left (one the log never named) until some command settled the import. Now
    a request that may write settles first (api/__init__.py), and so does an automatic backup (which would otherwise
    carry that key file into every copy)."""
    import dataclasses
    import hashlib
    import hmac

    from api import create_app
    from station.backup.archive import init_backup_key
    from station.backup.schedule import backup_to_dir
    from tests.support.stations import PASSWORDS

    st, _, old_key = interrupted_import(commission, make_station, monkeypatch, "ST-KILL-6")
    keys = st.config.keys_dir
    assert identity.read_voter_key(keys / identity.VOTER_KEY_FILE) != old_key  # what the killed import left
    role, password = PASSWORDS["officer"]
    st.accounts.add_user("officer", password, role)
    client = create_app(st).test_client()
    assert client.get("/api/health").status_code == 200  # a read settles nothing and needs no lock
    assert (keys / importing.UNDO_FILE).exists()
    token = client.post("/api/auth/login", json={"username": "officer", "password": password}).json["token"]
    cnic = "37405-1234567-1"
    r = client.post("/api/verifications", json={"cnic": cnic}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.json
    assert not (keys / importing.UNDO_FILE).exists()
    assert identity.read_voter_key(keys / identity.VOTER_KEY_FILE) == old_key
    [identify] = [e for e in events(st, "identify") if e["session"] == r.json["id"]]
    assert identify["voter"] == hmac.new(old_key, cnic.encode(), hashlib.sha256).hexdigest()[:32]

    st2, _, old_key2 = interrupted_import(commission, make_station, monkeypatch, "ST-KILL-7")
    keys2, disk = st2.config.keys_dir, tmp_path / "backup-disk"
    disk.mkdir()
    config = dataclasses.replace(st2.config, backup=dataclasses.replace(st2.config.backup, dir=str(disk)))
    init_backup_key(config, "a backup passphrase", scrypt_n=2 ** 10)  # `station backup init`, cheaply
    taken = backup_to_dir("interval", config=config, engine=st2.engine, transaction=st2.transaction,
                          signer=st2.flow.log)
    assert taken is not None and taken.parent == disk
    assert not (keys2 / importing.UNDO_FILE).exists()
    assert identity.read_voter_key(keys2 / identity.VOTER_KEY_FILE) == old_key2
