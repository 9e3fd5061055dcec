"""Issue 16, item 1: trust is held by the verifier. A bundle is authenticated only by a commission certificate the
verifier holds, never by a certificate (station.crt or commission.crt) found in the bundle.

The attack: remove a `ballot_issued` entry, recompute the chain, re-sign everything with a fresh key and a fresh
self-signed station.crt (optionally carrying the attacker's own commission.crt that issued it)."""
import io
import json
import zipfile

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit.bundle import verify_bundle
from station.audit.merge import merge_bundles
from station.cli.main import main
from tests.support.pki import Commission, bundle, log_bodies, self_signed, without_a_ballot

STATION = "AJK-PKI-01"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    commission, key = Commission(), Ed25519PrivateKey.generate()
    bodies = log_bodies(STATION)
    genuine = bundle(key, commission.issue(key, STATION), bodies)
    attacker = Ed25519PrivateKey.generate()
    forged = bundle(attacker, self_signed(attacker, STATION), without_a_ballot(bodies))
    fake_commission = Commission()  # the attacker's own "commission", carried inside the file
    carried = bundle(attacker, fake_commission.issue(attacker, STATION), without_a_ballot(bodies),
                     carried_commission=fake_commission.pem)
    # no key needed: the genuine station's certificate (public, in every bundle it exports) beside an empty log
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("manifest.json", json.dumps({"station": STATION, "entries": 0}))
        z.writestr("log.jsonl", "")
        z.writestr("station.crt", zipfile.ZipFile(io.BytesIO(genuine)).read("station.crt"))
        z.writestr("roll.json", json.dumps({"roll_digest": None}))
    paths = {}
    for name, data in (("genuine", genuine), ("forged", forged), ("carried", carried), ("empty", empty.getvalue()),
                       ("commission", commission.pem)):
        paths[name] = root / name
        paths[name].write_bytes(data)
    return paths


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env or {"STATION_HOME": "/nonexistent-pki-home"})


def test_the_genuine_bundle_verifies_against_the_commission_certificate(files):
    result = verify_bundle(files["genuine"], commission_cert_pem=files["commission"].read_bytes())
    assert result.ok and result.countersigned is True and result.authenticated
    out = run("audit", "verify", files["genuine"], "--commission-cert", files["commission"])
    assert out.exit_code == 0, out.output
    assert "CHAIN HOLDS" in out.output and "certified by the commission" in out.output


@pytest.mark.parametrize("name", ["forged", "carried"])
def test_a_bundle_re_signed_with_another_key_is_refused_with_the_reason(files, name):
    result = verify_bundle(files[name], commission_cert_pem=files["commission"].read_bytes())
    assert result.countersigned is False and not result.authenticated and not result.ok
    out = run("audit", "verify", files[name], "--commission-cert", files["commission"], "--json")
    assert out.exit_code == 1
    report = json.loads(out.output.splitlines()[0])
    assert report["countersigned"] is False and report["authenticated"] is False
    assert any("not issued by the commission" in b["message"] for b in report["breaks"])


def test_a_carried_commission_certificate_is_never_a_trust_anchor(files):
    result = verify_bundle(files["carried"])
    assert result.countersigned is None and not result.authenticated
    out = run("audit", "verify", files["carried"], "--json")
    assert out.exit_code == 1
    assert json.loads(out.output.splitlines()[0])["countersigned"] is None
    assert "integrity only: the signer is not authenticated" in out.output


def test_without_a_commission_certificate_verify_says_integrity_only_and_fails(files):
    out = run("audit", "verify", files["forged"])
    assert out.exit_code == 1
    assert "integrity only: the signer is not authenticated" in out.output


def test_self_signed_ok_accepts_an_intact_chain_but_says_the_signer_is_not_authenticated(files):
    out = run("audit", "verify", files["forged"], "--self-signed-ok")
    assert out.exit_code == 0, out.output
    assert "CHAIN HOLDS" in out.output and "not authenticated" in out.output
    # but a commission certificate given is always checked
    out = run("audit", "verify", files["forged"], "--self-signed-ok", "--commission-cert", files["commission"])
    assert out.exit_code == 1


def test_the_commission_certificate_defaults_to_the_configuration(files):
    env = {"STATION_HOME": "/nonexistent-pki-home", "STATION_AUDIT__COMMISSION_CERTIFICATE": str(files["commission"])}
    assert run("audit", "verify", files["genuine"], env=env).exit_code == 0
    out = run("audit", "verify", files["forged"], env=env)
    assert out.exit_code == 1 and "not issued by the commission" in out.output


def test_merge_refuses_forged_bundles_and_counts_only_authenticated_ballots(files):
    pem = files["commission"].read_bytes()
    result = merge_bundles([files["forged"], files["genuine"]], commission_cert_pem=pem)
    forged, genuine = result["bundles"]
    assert not forged["ok"] and any("not issued by the commission" in b for b in forged["breaks"])
    assert genuine["ok"]  # the forged file seen first does not make the real one a duplicate
    assert not result["ok"]
    out = run("audit", "merge", files["carried"], "--commission-cert", files["commission"])
    assert out.exit_code == 1 and "BROKEN" in out.output
    assert run("audit", "merge", files["genuine"], "--commission-cert", files["commission"]).exit_code == 0
    out = run("audit", "merge", files["genuine"])
    assert out.exit_code == 1 and "not authenticated" in out.output
    assert run("audit", "merge", files["genuine"], "--self-signed-ok").exit_code == 0


def test_a_bundle_with_nothing_signed_is_not_authenticated_and_does_not_displace_the_station(files):
    """The station's certificate is public: beside an empty log it signs nothing, so it vouches for nothing. Such a
    bundle merged first took the station's place, and the genuine bundle was refused as its duplicate."""
    pem = files["commission"].read_bytes()
    result = verify_bundle(files["empty"], commission_cert_pem=pem)
    assert not result.authenticated and not result.accepted(self_signed_ok=True)
    out = run("audit", "verify", files["empty"], "--commission-cert", files["commission"])
    assert out.exit_code == 1 and "nothing in this bundle is signed by the station" in out.output
    empty, genuine = merge_bundles([files["empty"], files["genuine"]], commission_cert_pem=pem)["bundles"]
    assert not empty["ok"] and genuine["ok"]


def test_report_refuses_an_unauthenticated_signer(files, tmp_path):
    out = run("audit", "report", files["forged"], "--out", tmp_path / "r.html", "--commission-cert",
              files["commission"])
    assert out.exit_code == 1 and "not issued by the commission" in out.output
    assert not (tmp_path / "r.html").exists()
    out = run("audit", "report", files["forged"], "--out", tmp_path / "r.html")
    assert out.exit_code == 1 and "integrity only" in out.output
    out = run("audit", "report", files["genuine"], "--out", tmp_path / "r.html", "--commission-cert",
              files["commission"])
    assert out.exit_code == 0, out.output
    assert "certified by the commission" in (tmp_path / "r.html").read_text()
    out = run("audit", "report", files["forged"], "--out", tmp_path / "s.html", "--self-signed-ok")
    assert out.exit_code == 0 and "not authenticated" in (tmp_path / "s.html").read_text()


def test_a_bad_commission_certificate_file_is_one_line(files, tmp_path):
    bad = tmp_path / "bad.crt"
    bad.write_text("nope")
    out = run("audit", "verify", files["genuine"], "--commission-cert", bad)
    assert out.exit_code == 3 and out.output.startswith("error:") and "Traceback" not in out.output
    # a station certificate is not a commission root
    station_crt = tmp_path / "station.crt"
    key = Ed25519PrivateKey.generate()
    station_crt.write_bytes(self_signed(key, STATION))
    out = run("audit", "verify", files["genuine"], "--commission-cert", station_crt)
    assert out.exit_code == 3 and "not a commission CA certificate" in out.output
