import os
import stat

import pytest

from station.errors import KeyMissing
from station.security.keys import TemplateDecryptError, create_keys, load_template_cipher, template_context
from station.security.users import hash_password, verify_password


def test_station_key_is_created_once_with_private_modes(tmp_path):
    keys = tmp_path / "keys"
    assert create_keys(keys) is True
    first = (keys / "template.key").read_bytes()
    assert create_keys(keys) is False
    assert (keys / "template.key").read_bytes() == first
    assert stat.S_IMODE(os.stat(keys / "template.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700


def test_missing_damaged_or_exposed_key_is_refused(tmp_path):
    keys = tmp_path / "keys"
    with pytest.raises(KeyMissing, match="station init"):
        load_template_cipher(keys)
    create_keys(keys)
    os.chmod(keys / "template.key", 0o644)
    with pytest.raises(KeyMissing, match="readable by others"):
        load_template_cipher(keys)
    os.chmod(keys / "template.key", 0o600)
    (keys / "template.key").write_bytes(b"short")
    with pytest.raises(KeyMissing, match="damaged"):
        load_template_cipher(keys)


def test_templates_are_bound_to_voter_and_position(tmp_path):
    create_keys(tmp_path)
    cipher = load_template_cipher(tmp_path)
    ctx = template_context("12345-1234567-1", "fingerprint", "right_thumb")
    blob = cipher.encrypt(b"template-bytes", ctx)
    assert b"template-bytes" not in blob
    assert cipher.decrypt(blob, ctx) == b"template-bytes"
    with pytest.raises(TemplateDecryptError):
        cipher.decrypt(blob, template_context("12345-1234567-3", "fingerprint", "right_thumb"))
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(TemplateDecryptError):
        cipher.decrypt(tampered, ctx)


def test_password_hashes_verify_and_differ():
    h1, h2 = hash_password("correct horse"), hash_password("correct horse")
    assert h1 != h2 and h1.startswith("scrypt$")
    assert verify_password("correct horse", h1)
    assert not verify_password("correct horsf", h1)
    assert not verify_password("x", "garbage")


class _Killed(BaseException):
    """The process killed (kill -9, power cut) at this point: nothing after it runs."""


def test_init_killed_while_writing_the_key_leaves_no_key_and_init_again_makes_a_whole_one(tmp_path, monkeypatch):
    """A kill before the key's bytes reach the disk (its fsync) must not leave keys/template.key behind, empty or
    partial: a re-run of init would keep it ("key created" skipped) and doctor would find it damaged."""
    from station.security import files

    keys = tmp_path / "keys"

    def killed(fd):
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "fsync", killed)
        with pytest.raises(_Killed):
            create_keys(keys)
    assert not (keys / "template.key").exists()  # no key at all, rather than one whose bytes never reached the disk
    assert create_keys(keys) is True  # init run again makes it
    assert len((keys / "template.key").read_bytes()) == 32 and load_template_cipher(keys)
    assert stat.S_IMODE(os.stat(keys / "template.key").st_mode) == 0o600
    assert [p.name for p in keys.iterdir()] == ["template.key"]  # no temporary file left beside it


def test_create_private_never_replaces_a_file_and_leaves_no_temporary_file(tmp_path):
    from station.security.files import create_private

    path = tmp_path / "secret.key"
    create_private(path, b"first")
    with pytest.raises(FileExistsError):
        create_private(path, b"second")
    assert path.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["secret.key"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
