"""Keys sealed with systemd-creds: the store key goes through the real `systemd-creds encrypt --with-key=auto` (with a
host key of the test's own, named by $SYSTEMD_CREDENTIAL_SECRET, so the machine's /var/lib/systemd is never touched;
this machine has no TPM2), and the service reads it back from $CREDENTIALS_DIRECTORY as PID 1 would leave it there.
PID 1 itself decrypting a LoadCredentialEncrypted= line is not exercised: the tests run without systemd as init."""
from __future__ import annotations

import subprocess

import pytest

from station.errors import KeyMissing
from station.security import keystore
from station.security.key_files import private_key_files
from station.security.keys import create_keys, load_template_cipher
from station.security.keystore import KeysLocked, key_store
from tests.support.keystore import fresh_process
from tests.support.require import SYSTEMD_HOW, require_executable


@pytest.fixture(autouse=True, scope="module")
def systemd_creds():
    require_executable("systemd-creds", SYSTEMD_HOW + "; systemd >= 250 is a dependency of the package")


@pytest.fixture(autouse=True)
def host_key(tmp_path, monkeypatch):
    """A host key of the test's own and a fresh process (no store unlocked, no passphrase source)."""
    fresh_process(monkeypatch)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    secret = tmp_path / "credential.secret"
    monkeypatch.setenv("SYSTEMD_CREDENTIAL_SECRET", str(secret))
    return secret


def sealed_station(tmp_path):
    keys = tmp_path / "keys"
    create_keys(keys)
    original = (keys / "template.key").read_bytes()
    result = key_store(keys).protect(keystore.SYSTEMD_CREDS, private_key_files())
    assert result.protection == "systemd-creds" and "template.key" in result.converted
    keystore._stores.clear()  # the service starts afresh
    return keys, original


def pid1_decrypts(credential, folder):
    """What systemd does for LoadCredentialEncrypted=station-keys:PATH before the service starts."""
    folder.mkdir(mode=0o700)
    done = subprocess.run(["systemd-creds", "decrypt", "--name=station-keys", str(credential),
                           str(folder / "station-keys")], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_service_opens_the_keys_from_its_credentials_directory(tmp_path, monkeypatch):
    keys, original = sealed_station(tmp_path)
    assert keystore.is_sealed((keys / "template.key").read_bytes())
    assert (keys / keystore.CREDENTIAL_FILE).read_bytes()[:1] != b"{"  # systemd's own format, not ours
    pid1_decrypts(keys / keystore.CREDENTIAL_FILE, tmp_path / "credentials")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))
    monkeypatch.setattr(keystore.os, "geteuid", lambda: 997)  # the service's user, not root
    assert key_store(keys).unlock_automatically()
    assert load_template_cipher(keys).key == original


def test_without_the_credential_a_user_process_is_locked_and_told_how(tmp_path, monkeypatch):
    keys, _ = sealed_station(tmp_path)
    monkeypatch.setattr(keystore.os, "geteuid", lambda: 997)
    assert not key_store(keys).unlock_automatically()
    with pytest.raises(KeysLocked, match="LoadCredentialEncrypted=station-keys:"):
        load_template_cipher(keys)


@pytest.mark.needs_root("opening the credential by hand needs root (the host key is root's)")
def test_root_opens_the_credential_by_hand_but_not_with_another_host_key(tmp_path, monkeypatch):
    keys, original = sealed_station(tmp_path)
    assert load_template_cipher(keys).key == original  # systemd-creds decrypt, as root
    keystore._stores.clear()
    # the disk, copied to another machine: that machine has a host key of its own, not this one's
    monkeypatch.setenv("SYSTEMD_CREDENTIAL_SECRET", str(tmp_path / "another-machine.secret"))
    made = subprocess.run(["systemd-creds", "encrypt", "--with-key=host", "--name=x", "-", str(tmp_path / "x.cred")],
                          input=b"x", capture_output=True, timeout=60)
    assert made.returncode == 0 and (tmp_path / "another-machine.secret").is_file(), made.stderr
    with pytest.raises(KeyMissing, match="systemd-creds decrypt"):
        load_template_cipher(keys)


def test_back_to_passphrase_keeps_the_files_and_drops_the_credential(tmp_path, monkeypatch):
    keys, original = sealed_station(tmp_path)
    pid1_decrypts(keys / keystore.CREDENTIAL_FILE, tmp_path / "credentials")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))
    sealed = (keys / "template.key").read_bytes()
    result = key_store(keys).protect(keystore.PASSPHRASE, private_key_files(), passphrase="passphrase for later",
                                     scrypt_n=2 ** 10)
    assert result.converted == () and (keys / "template.key").read_bytes() == sealed
    assert not (keys / keystore.CREDENTIAL_FILE).exists()
    keystore._stores.clear()
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    key_store(keys).unlock("passphrase for later")
    assert load_template_cipher(keys).key == original


def test_the_server_refuses_to_start_without_the_credential_it_could_never_do_without(tmp_path, monkeypatch):
    from station.security.key_service import KeyService

    keys, _ = sealed_station(tmp_path)
    monkeypatch.setattr(keystore.os, "geteuid", lambda: 997)
    service = KeyService(store=key_store(keys), required="systemd-creds", key_files=private_key_files())
    assert "was not given the credential" in service.serving_problem()
    pid1_decrypts(keys / keystore.CREDENTIAL_FILE, tmp_path / "credentials")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "credentials"))
    assert service.serving_problem() is None
    assert "systemd-creds" in service.announcement() and not service.store.locked
