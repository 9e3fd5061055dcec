"""A restore never takes trust anchors from the backup. The attack (an auditor's): someone holding a station's
certified, unrevoked log key puts a rogue commission's roll-signing key (keys/trusted-commission.pub) and root
(keys/commission.crt) into the station home's keys/, or an older revocation list (keys/commission.crl), and takes a
backup: it is signed by the genuine station key, so `backup verify --commission-cert` says certified. Restored, the
target must still hold the anchors its verifier held (its own, or on a fresh home the commission certificate given),
the newer of the two revocation lists, and never a file the backup's station.toml names as an anchor."""
from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from station.audit.revocation import issue_revocation_list, load_revocation_list
from station.backup.archive import init_backup_key, verify_backup
from station.backup.restore import restore_backup
from station.config import load_config
from station.packages.crypto import key_id, public_pem
from station.packages.verify import trusted_commission_key, trusted_key_path
from tests.station.backup.test_backup import FAST_SCRYPT, PASSPHRASE, backup_of, target_config
from tests.support.pki import Commission
from tests.support.stations import build_station
from tests.support.transparency import certified_station

pytestmark = pytest.mark.slow

ROLL_KEY, ROOT, CRL = "trusted-commission.pub", "commission.crt", "commission.crl"


def crl(commission: Commission, number: int) -> bytes:
    return issue_revocation_list(commission.key, commission.cert, [], number,
                                 now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=number))


@pytest.fixture(scope="module")
def commissions():
    return Commission(), Commission()  # the genuine commission, the rogue one


@pytest.fixture(scope="module")
def source(tmp_path_factory, make_database_url, commissions):
    genuine, _ = commissions
    st = certified_station(tmp_path_factory.mktemp("anchors") / "home", make_database_url(), genuine)
    init_backup_key(st.config, PASSPHRASE, scrypt_n=FAST_SCRYPT)
    yield st
    st.close()


def backup_carrying(source, out, files: dict[str, bytes]):
    """A backup of ``source`` (signed by its genuine, certified log key) whose home carries ``files`` (paths relative
    to the home) as it is taken; the files are removed again after."""
    home = source.config.home
    for name, data in files.items():
        (home / name).write_bytes(data)
    try:
        return backup_of(source, out).path
    finally:
        for name in files:
            (home / name).unlink()


@pytest.fixture(scope="module")
def rogue_backup(source, commissions, tmp_path_factory):
    _, rogue = commissions
    out = tmp_path_factory.mktemp("rogue") / "sx.vsb"
    return backup_carrying(source, out, {f"keys/{ROLL_KEY}": public_pem(rogue.key.public_key()),
                                         f"keys/{ROOT}": rogue.pem})


def occupied_home(root, url, genuine: Commission, crl_number: int):
    """A station home that already holds the genuine anchors (roll key, root, revocation list ``crl_number``)."""
    st = build_station(root / "occupied", url)
    st.init()
    st.close()
    keys = st.config.keys_dir
    (keys / ROLL_KEY).write_bytes(public_pem(genuine.key.public_key()))
    (keys / ROOT).write_bytes(genuine.pem)
    (keys / CRL).write_bytes(crl(genuine, crl_number))
    return load_config("test", home=root / "occupied", overrides={"database": {"url": url}}, environ={})


def held_crl_number(config, commission: Commission) -> int:
    return load_revocation_list((config.keys_dir / CRL).read_bytes(), commission.cert).number


def test_the_rogue_commission_in_a_certified_backup_is_not_installed_on_a_fresh_home(rogue_backup, commissions,
                                                                                      tmp_path, make_database_url):
    genuine, _ = commissions
    assert verify_backup(rogue_backup, PASSPHRASE, commission_pem=genuine.pem).signer_authenticated  # the premise
    target = target_config(tmp_path, make_database_url())
    result = restore_backup(rogue_backup, PASSPHRASE, target, commission_pem=genuine.pem)
    keys = target.keys_dir
    assert (keys / ROOT).read_bytes() == genuine.pem  # the certificate the verifier was given, not the backup's
    assert trusted_commission_key(target) is None  # the rogue's key is left out: `roll trust` installs the right one
    assert not (keys / ROLL_KEY).exists()
    assert any(ROLL_KEY in w and "station roll trust" in w for w in result.warnings), result.warnings
    assert any(ROOT in w for w in result.warnings), result.warnings
    assert (keys / "station.crt").is_file() and (keys / "template.key").is_file()  # everything else is restored


def test_a_backups_roll_key_is_restored_only_when_it_is_the_commissions(source, commissions, tmp_path,
                                                                        make_database_url):
    genuine, _ = commissions
    path = backup_carrying(source, tmp_path / "genuine.vsb", {f"keys/{ROLL_KEY}": public_pem(genuine.key.public_key()),
                                                             f"keys/{ROOT}": genuine.pem})
    target = target_config(tmp_path, make_database_url())
    result = restore_backup(path, PASSPHRASE, target, commission_pem=genuine.pem)
    assert key_id(trusted_commission_key(target)) == key_id(genuine.key.public_key())
    assert (target.keys_dir / ROOT).read_bytes() == genuine.pem
    assert not [w for w in result.warnings if ROLL_KEY in w or ROOT in w], result.warnings


def test_a_forced_restore_keeps_the_targets_own_anchors(rogue_backup, commissions, tmp_path, make_database_url):
    genuine, _ = commissions
    target = occupied_home(tmp_path, make_database_url(), genuine, 5)
    before = {name: (target.keys_dir / name).read_bytes() for name in (ROLL_KEY, ROOT, CRL)}
    restore_backup(rogue_backup, PASSPHRASE, target, force=True, commission_pem=genuine.pem)
    assert {name: (target.keys_dir / name).read_bytes() for name in (ROLL_KEY, ROOT, CRL)} == before


def test_a_restore_never_rolls_back_the_revocation_list(source, commissions, tmp_path, make_database_url):
    genuine, rogue = commissions
    older = backup_carrying(source, tmp_path / "older.vsb", {f"keys/{CRL}": crl(genuine, 2)})
    target = occupied_home(tmp_path / "a", make_database_url(), genuine, 5)
    restore_backup(older, PASSPHRASE, target, force=True, commission_pem=genuine.pem)
    assert held_crl_number(target, genuine) == 5

    newer = backup_carrying(source, tmp_path / "newer.vsb", {f"keys/{CRL}": crl(genuine, 7)})
    target = occupied_home(tmp_path / "b", make_database_url(), genuine, 5)
    restore_backup(newer, PASSPHRASE, target, force=True, commission_pem=genuine.pem)
    assert held_crl_number(target, genuine) == 7  # the newer of the two, verified under the held root

    fresh = target_config(tmp_path / "c", make_database_url())
    restore_backup(newer, PASSPHRASE, fresh, commission_pem=genuine.pem)
    assert held_crl_number(fresh, genuine) == 7

    foreign = backup_carrying(source, tmp_path / "foreign.vsb", {f"keys/{CRL}": crl(rogue, 9)})
    fresh = target_config(tmp_path / "d", make_database_url())
    result = restore_backup(foreign, PASSPHRASE, fresh, commission_pem=genuine.pem)
    assert not (fresh.keys_dir / CRL).exists()
    assert any(CRL in w for w in result.warnings), result.warnings


def test_an_anchor_named_by_the_backups_settings_is_not_taken_from_it(source, commissions, tmp_path,
                                                                      make_database_url):
    """The backup's station.toml (restored on a home that has none) naming a file of the backup as the roll key or
    the commission certificate is the same attack by another path."""
    genuine, rogue = commissions
    settings = b'[roll]\ncommission_key = "keys/ec.pub"\n\n[audit]\ncommission_certificate = "issuer/ec.crt"\n'
    (source.config.home / "issuer").mkdir(exist_ok=True)
    path = backup_carrying(source, tmp_path / "settings.vsb", {
        "station.toml": settings, "keys/ec.pub": public_pem(rogue.key.public_key()), "issuer/ec.crt": rogue.pem})
    target = target_config(tmp_path, make_database_url())
    restore_backup(path, PASSPHRASE, target, commission_pem=genuine.pem)
    restored = load_config("test", home=target.home, overrides={"database": {"url": target.database.url}}, environ={})
    assert trusted_key_path(restored) == target.home / "keys" / "ec.pub"
    assert trusted_commission_key(restored) is None
    assert (target.home / "issuer" / "ec.crt").read_bytes() == genuine.pem


def test_cli_restore_of_the_auditors_backup_keeps_the_commission(rogue_backup, commissions, tmp_path,
                                                                 make_database_url):
    from station.cli.main import main

    genuine, rogue = commissions
    (tmp_path / "commission.crt").write_bytes(genuine.pem)
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    pw = ["--passphrase-file", str(tmp_path / "pass")]
    env = {"STATION_HOME": None, "STATION_PROFILE": None, "STATION_BACKUP_PASSPHRASE": None,
           "STATION_DATABASE__URL": make_database_url()}
    run = CliRunner().invoke
    verified = run(main, ["--profile", "test", "backup", "verify", str(rogue_backup), *pw,
                          "--commission-cert", str(tmp_path / "commission.crt")], env=env)
    assert verified.exit_code == 0 and "certified by the commission" in verified.stdout, verified.output
    home = tmp_path / "T"
    restored = run(main, ["--profile", "test", "backup", "restore", str(rogue_backup), "--home", str(home), *pw,
                          "--commission-cert", str(tmp_path / "commission.crt")], env=env)
    assert restored.exit_code == 0, restored.output
    assert (home / "keys" / ROOT).read_bytes() == genuine.pem
    assert not (home / "keys" / ROLL_KEY).exists()
    assert f"keys/{ROLL_KEY}" in restored.stderr and "station roll trust" in restored.stderr, restored.stderr
    assert public_pem(rogue.key.public_key()) not in b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file()
                                                              and "before-restore" not in str(p))
