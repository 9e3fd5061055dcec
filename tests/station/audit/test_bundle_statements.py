"""The bundle's signed statements say what they are: a checkpoint copied in as ``seal.json`` does not make a log cut
short look sealed, and the roll digest a bundle reports is the one the closing seal signed, not ``roll.json``'s
(a file anyone can rewrite)."""
import io

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit.bundle import signed_statement, verify_bundle
from station.audit.chain import LogSigner
from station.audit.identity import station_certificate
from tests.station.audit.test_audit_mutations import build_log, pack

STATION = "AJK-SEAL-01"
N = 12
ROLL = "ab" * 32


def _station():
    key = Ed25519PrivateKey.generate()
    signer = LogSigner(STATION, key, b"v" * 32)
    return signer, station_certificate(key, STATION).public_bytes(serialization.Encoding.PEM), build_log(signer, N)


def _seal(signer, entries, **extra):
    fields = {"kind": "seal", "station": STATION, "seq": len(entries), "hash": entries[-1].hash,
              "closed_at": "2026-11-29T17:00:00+05:00", "counts": {}, "roll_digest": ROLL}
    return signed_statement(signer, {**fields, **extra})


def _checkpoint(signer, entries, seq):
    return signed_statement(signer, {"kind": "checkpoint", "station": STATION, "seq": seq,
                                     "hash": entries[seq - 1].hash})


def test_a_sealed_bundle_reports_the_sealed_roll_digest():
    signer, cert, entries = _station()
    result = verify_bundle(io.BytesIO(pack(entries, cert, _seal(signer, entries), {}, roll_digest=ROLL)))
    assert result.ok and result.sealed
    assert result.roll_digest == ROLL and result.roll_digest_signed


def test_a_checkpoint_passed_off_as_the_seal_of_a_log_cut_short_is_not_a_seal():
    signer, cert, entries = _station()
    cut = entries[:8]  # the entries after 8 dropped; entry 8's checkpoint copied in as seal.json
    result = verify_bundle(io.BytesIO(pack(cut, cert, _checkpoint(signer, entries, 8), {}, roll_digest=ROLL)))
    assert not result.sealed
    assert not result.ok and any(b.kind == "seal" and "not a closing seal" in b.message for b in result.breaks)


def test_a_seal_of_another_station_is_refused():
    signer, cert, entries = _station()
    result = verify_bundle(io.BytesIO(pack(entries, cert, _seal(signer, entries, station="AJK-OTHER-02"), {},
                                           roll_digest=ROLL)))
    assert not result.sealed and not result.ok


def test_a_rewritten_roll_json_breaks_a_sealed_bundle():
    signer, cert, entries = _station()
    result = verify_bundle(io.BytesIO(pack(entries, cert, _seal(signer, entries), {}, roll_digest="0" * 64)))
    assert not result.ok
    assert any(b.kind == "roll" for b in result.breaks)
    assert result.roll_digest == ROLL  # what the station signed, not what the file claims


def test_an_unsealed_roll_digest_is_reported_as_unsigned():
    signer, cert, entries = _station()
    result = verify_bundle(io.BytesIO(pack(entries, cert, None, {}, roll_digest="0" * 64)))
    assert result.ok and not result.sealed
    assert result.roll_digest == "0" * 64 and not result.roll_digest_signed
    assert any("roll.json" in w and "not signed" in w for w in result.warnings)
    assert result.to_dict()["roll_digest_signed"] is False
