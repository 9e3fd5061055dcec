"""The unit for keys sealed with systemd-creds: `station install` (and `station keys protect`) add a drop-in whose
LoadCredentialEncrypted= line makes PID 1 decrypt the key store's credential for the service; systemd-analyze
accepts the unit with it; uninstall removes it. Starting the unit under a running systemd is not tested here (no
systemd as init in the test machines)."""
from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from station.cli import service as cli_service
from station.security import keystore
from station.security.key_files import private_key_files
from station.security.keys import create_keys
from station.service import install
from tests.support.require import SYSTEMD_HOW, require_executable

LINE = "LoadCredentialEncrypted=station-keys:/var/lib/station/keys/keystore.cred"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(keystore, "_stores", {})
    monkeypatch.setenv("SYSTEMD_CREDENTIAL_SECRET", str(tmp_path / "credential.secret"))  # never the machine's
    return tmp_path / "root"


def seal_service_keys(root):
    keys = root / "var/lib/station/keys"
    create_keys(keys)
    keystore.KeyStore(keys).protect(keystore.SYSTEMD_CREDS, private_key_files())


def invoke(command, root, *args):
    result = CliRunner().invoke(command, ["--root", str(root), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_install_adds_the_credential_drop_in_when_the_keys_are_sealed_with_systemd_creds(root, tmp_path):
    require_executable("systemd-creds", SYSTEMD_HOW)
    require_executable("systemd-analyze", SYSTEMD_HOW)
    seal_service_keys(root)
    invoke(cli_service.install, root, "--no-init")
    dropin = root / install.KEYS_DROPIN
    assert dropin.is_file() and LINE in dropin.read_text().splitlines()
    assert dropin.read_text().splitlines()[dropin.read_text().splitlines().index(LINE) - 1] == "[Service]"
    # the unit as systemd reads it with its drop-in: the [Service] lines of both
    merged = tmp_path / "station.service"
    merged.write_text((root / install.ADMIN_UNIT).read_text() + "\n" + dropin.read_text())
    done = subprocess.run(["systemd-analyze", "verify", str(merged)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    invoke(cli_service.uninstall, root)
    assert not dropin.exists() and not dropin.parent.exists()


def test_install_writes_no_drop_in_for_plain_keys_and_set_key_credential_switches_it(root):
    create_keys(root / "var/lib/station/keys")
    invoke(cli_service.install, root, "--no-init")
    assert not (root / install.KEYS_DROPIN).exists()
    report = install.set_key_credential(root, True)
    assert LINE in (root / install.KEYS_DROPIN).read_text() and any("restart" in n for n in report.notes)
    install.set_key_credential(root, False)
    assert not (root / install.KEYS_DROPIN).exists()
