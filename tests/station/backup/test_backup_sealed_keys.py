"""A backup of a station whose keys are sealed: it needs the keys unlocked (it is signed with the log key), holds the
keys opened inside its encrypted payload and never the key store's own files (a TPM-bound credential would not
restore on the replacement laptop), verifies with the backup passphrase alone, and restores to a station whose keys
are the originals, plain until `station keys protect`."""
from __future__ import annotations

import pytest

from station.backup.archive import create_backup, init_backup_key, verify_backup
from station.backup.restore import restore_backup
from station.config import load_config
from station.security import keystore
from station.security.key_files import private_key_files
from station.security.keystore import KeysLocked
from tests.support.keystore import fresh_process
from tests.support.stations import build_station

BACKUP_PASSPHRASE = "correct horse battery staple"
KEY_PASSPHRASE = "poll opens at eight"


@pytest.fixture(autouse=True)
def new_process(monkeypatch):
    return fresh_process(monkeypatch)


def test_a_backup_of_sealed_keys_restores_them_plain(tmp_path, make_database_url):
    url = make_database_url()
    station = build_station(tmp_path / "source", url)
    station.init()
    keys = station.config.keys_dir
    originals = {name: (keys / name).read_bytes() for name in private_key_files() if (keys / name).exists()}
    init_backup_key(station.config, BACKUP_PASSPHRASE, scrypt_n=2 ** 12)
    station.keys.protect(keystore.PASSPHRASE, passphrase=KEY_PASSPHRASE, scrypt_n=2 ** 10)
    station.close()
    keystore._stores.clear()  # restarted: locked

    station = build_station(tmp_path / "source", url, keys={"protection": "passphrase"})
    try:
        with pytest.raises(KeysLocked):
            create_backup(tmp_path / "locked.vsb", config=station.config, engine=station.engine,
                          signer=station.log_signer)
        station.keys.store.unlock(KEY_PASSPHRASE)
        summary = create_backup(tmp_path / "b.vsb", config=station.config, engine=station.engine,
                                signer=station.log_signer)
    finally:
        station.close()
    assert {f"keys/{name}" for name in originals} <= set(summary.files)
    assert not {f"keys/{name}" for name in keystore.STORE_FILES} & set(summary.files)
    assert verify_backup(summary.path, BACKUP_PASSPHRASE, self_signed_ok=True).log_head_seq == summary.log_head_seq

    target = load_config("test", home=tmp_path / "replacement", overrides={"database": {"url": make_database_url()}},
                         environ={})
    restore_backup(summary.path, BACKUP_PASSPHRASE, target, self_signed_ok=True)
    restored = target.keys_dir
    assert {name: (restored / name).read_bytes() for name in originals} == originals
    assert not (restored / keystore.STORE_FILE).exists()
