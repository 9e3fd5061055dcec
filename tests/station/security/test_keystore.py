"""Keys at rest (station/security/keystore.py): every private key of the station sealed under a passphrase and opened
again; what a thief who copies the disk finds; a conversion cut short leaves every key readable and finishes when run
again; a locked store refuses to hand out a key; the TLS server keeps serving with the certificate it has while the
CA's key is locked.

Expectations come from the keys as they were made (the files before sealing), never from the store's own output."""
from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from station.audit import identity
from station.errors import KeyMissing
from station.packages import crypto
from station.security import files, keystore, tls
from station.security.key_files import private_key_files
from station.security.keys import create_keys, load_template_cipher
from station.security.keystore import KeysLocked, KeyStore, WrongPassphrase, key_store
from tests.support.keystore import fresh_process

PASSPHRASE = "correct horse battery staple"
FAST_SCRYPT = 2 ** 10  # the cost is a parameter; the station's default is checked below
STATION = "KS-01"
PEM_PRIVATE = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")


@pytest.fixture(autouse=True)
def new_process(monkeypatch):
    """Each test starts as a fresh process would: no store unlocked, nobody to ask for a passphrase (the server's
    situation). Calling the returned function restarts the "process" (the stores forget their keys)."""
    return fresh_process(monkeypatch)


def make_keys(keys: Path) -> dict[str, bytes]:
    """Every private key file of a station (and of a commission home), made by the station's own code; their bytes."""
    create_keys(keys)
    identity.create_identity(keys, STATION)
    crypto.create_package_key(keys)
    crypto.create_commission_key(keys)
    identity.create_election_voter_key(keys)
    tls.create_station_ca(keys, STATION, hostnames=["localhost"])
    originals = {name: (keys / name).read_bytes() for name in private_key_files()}
    assert len(originals) == 7 and not any(keystore.is_sealed(data) for data in originals.values())
    return originals


def pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def secrets_of(data: bytes) -> list[bytes]:
    """What would give a key away if it appeared in a file: raw bytes (and their hex, base64) of a 32-byte key; the
    base64 body and the DER of a PEM key."""
    if data.startswith(b"-----BEGIN"):
        body = b"".join(line for line in data.splitlines() if not line.startswith(b"-----"))
        return [body, base64.b64decode(body)]
    return [data, data.hex().encode(), base64.b64encode(data)]


def protect(keys: Path, mode: str = keystore.PASSPHRASE, **kwargs):
    kwargs.setdefault("passphrase", PASSPHRASE if mode == keystore.PASSPHRASE else None)
    return key_store(keys).protect(mode, private_key_files(), scrypt_n=FAST_SCRYPT, **kwargs)


def test_passphrase_round_trip_gives_back_every_key(tmp_path, new_process):
    keys = tmp_path / "keys"
    originals = make_keys(keys)
    result = protect(keys)
    assert (result.previous, result.protection) == ("plain", "passphrase")
    assert set(result.converted) == set(originals)
    assert all(keystore.is_sealed((keys / name).read_bytes()) for name in originals)
    assert stat.S_IMODE((keys / keystore.STORE_FILE).stat().st_mode) == 0o600

    new_process()  # the station restarts: locked until someone gives the passphrase
    for load in (lambda: load_template_cipher(keys), lambda: identity.load_signer(keys, STATION),
                 lambda: crypto.load_package_key(keys), lambda: crypto.load_commission_key(keys),
                 lambda: identity.load_election_voter_key(keys)):
        with pytest.raises(KeysLocked, match="locked"):
            load()
    assert key_store(keys).locked

    key_store(keys).unlock(PASSPHRASE)
    assert not key_store(keys).locked
    assert load_template_cipher(keys).key == originals["template.key"]
    signer = identity.load_signer(keys, STATION)
    assert pem(signer.signing_key) == originals[identity.SIGNING_KEY_FILE]
    assert signer.voter_key.current() == originals[identity.VOTER_KEY_FILE]
    assert pem(crypto.load_package_key(keys)) == originals[crypto.PACKAGE_KEY_FILE]
    assert pem(crypto.load_commission_key(keys)) == originals[crypto.COMMISSION_KEY_FILE]
    assert identity.load_election_voter_key(keys) == originals[identity.ELECTION_VOTER_KEY_FILE]
    issued = tls.issue_server_certificate(keys, ["localhost"], ["127.0.0.1"])  # signed with the opened CA key
    ca = x509.load_pem_x509_certificate((keys / tls.CA_CERT_FILE).read_bytes())
    x509.load_pem_x509_certificate(issued.cert_file.read_bytes()).verify_directly_issued_by(ca)

    # A key written while sealed (a roll package installing the commission's voter key) is sealed too.
    identity.install_voter_key(keys, bytes(range(32)))
    assert keystore.is_sealed((keys / identity.VOTER_KEY_FILE).read_bytes())
    assert identity.read_voter_key(keys / identity.VOTER_KEY_FILE) == bytes(range(32))


def test_a_thief_with_the_disk_finds_no_key_in_passphrase_mode(tmp_path, new_process):
    keys = tmp_path / "keys"
    originals = make_keys(keys)
    protect(keys)
    tls.issue_server_certificate(keys, ["localhost"], ["127.0.0.1"])  # the one key left plain on purpose
    new_process()
    on_disk = {p.name: p.read_bytes() for p in keys.iterdir()}  # everything the thief copies
    assert [name for name, data in on_disk.items() if PEM_PRIVATE.search(data)] == [tls.SERVER_KEY_FILE]
    for name, data in originals.items():
        for secret in secrets_of(data):
            assert not [where for where, content in on_disk.items() if secret in content], name
    # A guessed passphrase opens nothing, and the store stays locked.
    thief = KeyStore(keys)
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        thief.unlock("not the passphrase at all")
    assert thief.locked
    with pytest.raises(KeysLocked):
        thief.read("template.key")


def test_the_stations_passphrase_cost_is_strong(tmp_path):
    assert keystore.SCRYPT_N >= 2 ** 17  # 128 MiB per guess
    keys = tmp_path / "keys"
    create_keys(keys)
    key_store(keys).protect(keystore.PASSPHRASE, private_key_files(), passphrase=PASSPHRASE)
    assert json.loads((keys / keystore.STORE_FILE).read_bytes())["kdf"]["n"] == keystore.SCRYPT_N


def test_a_short_passphrase_is_refused_and_nothing_changes(tmp_path):
    keys = tmp_path / "keys"
    originals = make_keys(keys)
    with pytest.raises(Exception, match="at least 10 characters"):
        protect(keys, passphrase="short")
    assert not (keys / keystore.STORE_FILE).exists()
    assert {name: (keys / name).read_bytes() for name in originals} == originals


def _interrupted_writes(monkeypatch, fail_at: int) -> None:
    """The fail_at-th atomic write of the key store dies (a power cut) before it replaces anything."""
    real, calls = keystore.write_atomically, []

    def write(path, data, *, mode=0o600):
        calls.append(path)
        if len(calls) == fail_at:
            raise OSError("power cut")
        real(path, data, mode=mode)

    monkeypatch.setattr(keystore, "write_atomically", write)


def _every_key_reads_back(keys: Path, originals: dict[str, bytes]) -> tuple[int, int]:
    """Each key file is there once, plain with its original bytes or sealed and opening to them; (plain, sealed)."""
    store = key_store(keys)
    plain = sealed = 0
    for name, data in originals.items():
        current = (keys / name).read_bytes()
        if keystore.is_sealed(current):
            sealed += 1
        else:
            assert current == data, name
            plain += 1
        assert store.read(name) == data, name
    return plain, sealed


def test_conversion_cut_short_leaves_every_key_readable_and_finishes_when_run_again(tmp_path, monkeypatch,
                                                                                   new_process):
    keys = tmp_path / "keys"
    originals = make_keys(keys)
    before = sorted(p.name for p in keys.iterdir())
    _interrupted_writes(monkeypatch, fail_at=4)  # the store file, two keys sealed, then the power goes
    with pytest.raises(OSError, match="power cut"):
        protect(keys)
    assert sorted(p.name for p in keys.iterdir()) == sorted([*before, keystore.STORE_FILE])  # no temporary file
    new_process()
    key_store(keys).unlock(PASSPHRASE)
    plain, sealed = _every_key_reads_back(keys, originals)
    assert sealed == 2 and plain == len(originals) - 2

    monkeypatch.setattr(keystore, "write_atomically", files.write_atomically)  # the power is back
    new_process()  # run again by hand: the command asks for the passphrase
    keystore.ask_passphrase_with(lambda: PASSPHRASE)
    result = protect(keys)
    assert set(result.converted) == set(originals) - set(result.unchanged) and len(result.unchanged) == 2
    assert _every_key_reads_back(keys, originals) == (0, len(originals))


def test_opening_back_to_plain_cut_short_and_finished(tmp_path, monkeypatch, new_process):
    keys = tmp_path / "keys"
    originals = make_keys(keys)
    protect(keys)
    _interrupted_writes(monkeypatch, fail_at=3)
    with pytest.raises(OSError, match="power cut"):
        protect(keys, keystore.PLAIN)
    assert (keys / keystore.STORE_FILE).exists()  # removed only after the last file is opened
    plain, sealed = _every_key_reads_back(keys, originals)
    assert plain == 2 and sealed == len(originals) - 2
    monkeypatch.setattr(keystore, "write_atomically", files.write_atomically)
    result = protect(keys, keystore.PLAIN)
    assert result.protection == "plain" and not (keys / keystore.STORE_FILE).exists()
    assert {name: (keys / name).read_bytes() for name in originals} == originals


def test_changing_the_passphrase_rewraps_and_leaves_the_key_files_alone(tmp_path, new_process):
    keys = tmp_path / "keys"
    originals = make_keys(keys)
    protect(keys)
    sealed = {name: (keys / name).read_bytes() for name in originals}
    result = protect(keys, passphrase="a brand new passphrase")
    assert result.converted == () and {name: (keys / name).read_bytes() for name in originals} == sealed
    new_process()
    with pytest.raises(WrongPassphrase):
        key_store(keys).unlock(PASSPHRASE)
    key_store(keys).unlock("a brand new passphrase")
    assert load_template_cipher(keys).key == originals["template.key"]


def test_a_sealed_file_moved_or_without_its_store_does_not_open(tmp_path, new_process):
    keys = tmp_path / "keys"
    originals = make_keys(keys)
    protect(keys)
    (keys / "template.key").write_bytes((keys / identity.VOTER_KEY_FILE).read_bytes())  # one sealed file for another
    with pytest.raises(KeyMissing, match="another file"):
        load_template_cipher(keys)
    (keys / keystore.STORE_FILE).unlink()
    with pytest.raises(KeyMissing, match="keystore.json is missing"):
        crypto.load_package_key(keys)
    assert originals  # the keys existed; what was refused is the copy


def test_a_plain_store_refuses_unlock_and_a_passphrase_store_refuses_a_wrong_one(tmp_path):
    keys = tmp_path / "keys"
    make_keys(keys)
    with pytest.raises(Exception, match="plain files"):
        key_store(keys).unlock(PASSPHRASE)
    protect(keys)
    with pytest.raises(WrongPassphrase):
        KeyStore(keys).unlock("wrong wrong wrong")


def test_the_server_keeps_its_certificate_while_the_ca_key_is_locked(tmp_path, new_process, caplog):
    keys = tmp_path / "keys"
    make_keys(keys)
    protect(keys)
    first = tls.issue_server_certificate(keys, ["localhost"], ["127.0.0.1"]).cert_file.read_bytes()
    new_process()  # restarted: locked
    again = tls.issue_server_certificate(keys, ["localhost"], ["127.0.0.1"], force=False)
    assert not again.issued_now
    # a new address (a DHCP lease) cannot be added while the CA key is locked: the old certificate is served
    moved = tls.issue_server_certificate(keys, ["localhost"], ["127.0.0.1", "192.168.7.9"], force=False)
    assert not moved.issued_now and "192.168.7.9" not in moved.ips and "not renewed" in caplog.text
    assert moved.cert_file.read_bytes() == first
    (keys / tls.SERVER_CERT_FILE).unlink()
    with pytest.raises(tls.TlsError, match="station tls issue"):
        tls.issue_server_certificate(keys, ["localhost"], ["127.0.0.1"], force=False)
    key_store(keys).unlock(PASSPHRASE)
    assert tls.issue_server_certificate(keys, ["localhost"], ["127.0.0.1"], force=False).issued_now


def test_a_key_readable_by_others_is_refused_in_every_mode(tmp_path):
    keys = tmp_path / "keys"
    make_keys(keys)
    protect(keys)
    (keys / crypto.PACKAGE_KEY_FILE).chmod(0o644)
    with pytest.raises(KeyMissing, match="readable by others"):
        crypto.load_package_key(keys)


def test_waiting_work_starts_when_the_keys_are_unlocked(tmp_path, new_process):
    keys = tmp_path / "keys"
    make_keys(keys)
    protect(keys)
    new_process()
    started = []
    key_store(keys).when_unlocked(lambda: started.append(load_template_cipher(keys).key_id))
    assert started == []
    key_store(keys).unlock(PASSPHRASE)
    assert len(started) == 1
    plain = tmp_path / "plain"
    create_keys(plain)
    key_store(plain).when_unlocked(lambda: started.append("now"))  # plain keys: at once
    assert started[-1] == "now"


def test_a_backup_copy_holds_the_opened_keys_and_not_the_store(tmp_path, new_process):
    keys = tmp_path / "keys"
    originals = make_keys(keys)
    protect(keys)
    new_process()
    store = key_store(keys)
    with pytest.raises(KeysLocked):
        store.backup_copy("template.key")
    store.unlock(PASSPHRASE)
    assert store.backup_copy(keystore.STORE_FILE) is None
    assert {name: store.backup_copy(name) for name in originals} == originals
    assert store.backup_copy(identity.CERTIFICATE_FILE) == (keys / identity.CERTIFICATE_FILE).read_bytes()

