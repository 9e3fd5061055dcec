"""Issue 16, item 1: the commission revokes a certificate with a signed revocation list, and every verifier refuses
what the revoked key signed. The attack: a station's log key is stolen (or the station is decommissioned); the holder
of the key keeps signing bundles, checkpoints and proofs that verify against the commission's root, because the
certificate itself is still valid. Before revocation existed `station audit verify --commission-cert C` accepted
them; with the commission's list (--crl, or the home's keys/commission.crl) they are refused, naming the signer, its
serial and the revocation date."""
import datetime as dt
import json

import click
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit.bundle import verify_bundle
from station.audit.identity import certification_problem
from station.audit.merge import merge_bundles
from station.audit.merkle_verify import CertifiedStation
from station.audit.revocation import (Revocation, RevocationError, issue_revocation_list, load_revocation_list)
from station.cli.main import main
from tests.support.pki import Commission, bundle, log_bodies

STATION, OTHER = "AJK-REV-01", "AJK-REV-02"
REVOKED_AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)


def serial(cert_pem: bytes) -> int:
    return x509.load_pem_x509_certificate(cert_pem).serial_number


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("revocation")
    commission = Commission()
    key, other_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    cert, other_cert = commission.issue(key, STATION), commission.issue(other_key, OTHER)
    revoked = [Revocation(serial(cert), REVOKED_AT, "key-compromise")]
    lists = {
        "crl": issue_revocation_list(commission.key, commission.cert, revoked, 2),
        "empty_crl": issue_revocation_list(commission.key, commission.cert, [], 1),
        "stale_crl": issue_revocation_list(commission.key, commission.cert, revoked, 1,
                                           now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60)),
    }
    impostor = Commission()  # a list made with a fresh key, naming nobody: it must not clear anyone
    lists["foreign_crl"] = issue_revocation_list(impostor.key, impostor.cert, [], 9)
    paths = {"commission": commission.pem, "revoked": bundle(key, cert, log_bodies(STATION)),
             "other": bundle(other_key, other_cert, log_bodies(OTHER)), "cert": cert, **lists}
    out = {}
    for name, data in paths.items():
        out[name] = root / name
        out[name].write_bytes(data)
    out["commission_obj"] = commission
    return out


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], env={"STATION_HOME": "/nonexistent-revocation-home"})


def held(files, name="crl"):
    return load_revocation_list(files[name].read_bytes(), files["commission_obj"].cert)


def test_the_attack_a_revoked_station_s_bundle_still_verifies_without_the_list(files):
    """What every verifier did before revocation: the certificate is the commission's and valid, so it passes."""
    out = run("audit", "verify", files["revoked"], "--commission-cert", files["commission"])
    assert out.exit_code == 0, out.output
    assert verify_bundle(files["revoked"], commission_cert_pem=files["commission"].read_bytes()).authenticated


def test_audit_verify_with_the_list_refuses_the_revoked_signer_and_says_why(files):
    out = run("audit", "verify", files["revoked"], "--commission-cert", files["commission"], "--crl", files["crl"])
    assert out.exit_code == 1, out.output
    hex_serial = format(serial(files["cert"].read_bytes()), "x")
    assert f"station '{STATION}'" in out.output and f"serial {hex_serial}" in out.output
    assert "revoked by the commission on 2026-11-20 09:30 UTC (key-compromise)" in out.output
    assert "not issued by the commission" not in out.output  # it was issued, then revoked: the first line said so
    as_json = run("audit", "verify", files["revoked"], "--commission-cert", files["commission"], "--crl",
                  files["crl"], "--json")
    report = json.loads(as_json.stdout.splitlines()[0])
    assert report["authenticated"] is False and report["accepted"] is False
    assert any("revoked" in b["message"] for b in report["breaks"] if b["kind"] == "certificate")
    # a station the list does not name is unaffected
    assert run("audit", "verify", files["other"], "--commission-cert", files["commission"], "--crl",
               files["crl"]).exit_code == 0


def test_report_and_merge_refuse_the_revoked_signer(files, tmp_path):
    out = run("audit", "report", files["revoked"], "--out", tmp_path / "r.html", "--commission-cert",
              files["commission"], "--crl", files["crl"])
    assert out.exit_code == 1 and "revoked by the commission" in out.output
    assert not (tmp_path / "r.html").exists()
    result = merge_bundles([files["revoked"], files["other"]], commission_cert_pem=files["commission"].read_bytes(),
                           revocations=held(files))
    revoked, other = result["bundles"]
    assert not revoked["ok"] and any("revoked" in b for b in revoked["breaks"]) and other["ok"]
    out = run("audit", "merge", files["revoked"], files["other"], "--commission-cert", files["commission"], "--crl",
              files["crl"])
    assert out.exit_code == 1 and "BROKEN" in out.output


def test_a_list_signed_by_another_key_is_refused_in_one_line(files):
    with pytest.raises(RevocationError, match="not by the commission certificate held|not signed by the commission"):
        held(files, "foreign_crl")
    out = run("audit", "verify", files["revoked"], "--commission-cert", files["commission"], "--crl",
              files["foreign_crl"])
    assert out.exit_code >= 2 and "Traceback" not in out.output  # an error, not a check result
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: revocation list")
    # same issuer name, another key: the signature is what counts
    impostor = Commission()
    forged = load_revocation_list(issue_revocation_list(impostor.key, impostor.cert, [], 3), impostor.cert)
    assert certification_problem(x509.load_pem_x509_certificate(files["cert"].read_bytes()),
                                 files["commission_obj"].cert, revoked=forged).startswith("the revocation list given")
    with pytest.raises(RevocationError, match="not signed by the commission key"):
        load_revocation_list(issue_revocation_list(impostor.key, impostor.cert, [], 3), files["commission_obj"].cert
                             .public_key())


def test_a_list_without_a_commission_certificate_or_unreadable_is_one_line(files, tmp_path):
    out = run("audit", "verify", files["revoked"], "--self-signed-ok", "--crl", files["crl"])
    assert out.exit_code >= 2 and "give --commission-cert FILE too" in out.stderr
    junk = tmp_path / "junk.crl"
    junk.write_text("not a list")
    out = run("audit", "verify", files["revoked"], "--commission-cert", files["commission"], "--crl", junk)
    assert out.exit_code >= 2 and "is not an X.509 revocation list" in out.stderr
    out = run("audit", "verify", files["revoked"], "--commission-cert", files["commission"], "--crl",
              tmp_path / "missing.crl")
    assert out.exit_code >= 2 and out.stderr.startswith("error: revocation list")


def test_a_stale_list_is_a_warning_on_standard_error_not_a_silent_pass(files):
    out = run("audit", "verify", files["other"], "--commission-cert", files["commission"], "--crl",
              files["stale_crl"])
    assert out.exit_code == 0, out.output
    assert "warning: revocation list" in out.stderr and "is stale" in out.stderr
    out = run("audit", "verify", files["other"], "--commission-cert", files["commission"], "--crl",
              files["empty_crl"])
    assert out.exit_code == 0 and "stale" not in out.stderr


def test_the_verified_list_is_a_typed_value(files):
    listed = held(files)
    assert listed.number == 2 and listed.issuer == files["commission_obj"].cert.subject.rfc4514_string()
    assert listed.next_update - listed.this_update == dt.timedelta(days=30) and not listed.stale()
    [entry] = listed.revoked
    assert entry.serial == serial(files["cert"].read_bytes()) and entry.revoked_at == REVOKED_AT
    assert entry.reason == "key-compromise" and listed.revocation(entry.serial) == entry
    assert listed.to_dict()["revoked"][0]["serial"] == entry.serial_hex


def test_proofs_and_witnesses_refuse_a_revoked_station(files):
    station, problem = CertifiedStation.from_pem(files["cert"].read_bytes(), files["commission"].read_bytes())
    assert station is not None
    station, problem = CertifiedStation.from_pem(files["cert"].read_bytes(), files["commission"].read_bytes(),
                                                 held(files))
    assert station is None and "revoked by the commission" in problem


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_command_with_a_commission_certificate_option_takes_a_revocation_list():
    with_anchor = {path: {p.name for p in command.params} for path, command in _commands(main)
                   if any(p.name == "commission_cert" for p in command.params)}
    assert ("audit", "verify") in with_anchor and ("roll", "admit") in with_anchor
    assert [path for path, names in with_anchor.items() if "crl" not in names] == []
