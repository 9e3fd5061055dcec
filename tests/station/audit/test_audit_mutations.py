"""Mutation test of the audit bundle: a 1,000-entry log, 500+ random tamperings of every kind; `verify` must detect
each one and name the first broken sequence number; the untampered bundle must verify."""
import io
import json
import random
import zipfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit.bundle import signed_statement, verify_bundle
from station.audit.chain import LogSigner, SignedEntry, genesis_hash
from station.audit.identity import station_certificate

pytestmark = pytest.mark.slow

N = 1000
STATION = "AJK-MUT-01"


def build_log(signer: LogSigner, n: int) -> list[SignedEntry]:
    entries, prev = [], genesis_hash(signer.station_id)
    for seq in range(1, n + 1):
        e = signer.seal({"v": 1, "seq": seq, "at": f"2026-11-29T08:{seq % 60:02d}:00+05:00", "station": signer.station_id,
                         "event": "fingerprint_attempt", "operator": "officer", "session": f"s{seq // 3}",
                         "voter": signer.voter_ref(f"{seq:05d}-0000000-1"), "serial": seq, "score": float(seq % 97),
                         "threshold": 40.0, "outcome": "match" if seq % 97 >= 40 else "no_match", "details": {},
                         "prev": prev})
        entries.append(e)
        prev = e.hash
    return entries


def pack(entries, cert_pem, seal, checkpoints, roll_digest="x") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("manifest.json", "{}")
        z.writestr("log.jsonl", "".join(e.to_json() + "\n" for e in entries))
        z.writestr("station.crt", cert_pem)
        z.writestr("roll.json", json.dumps({"roll_digest": roll_digest}))
        for seq, statement in checkpoints.items():
            z.writestr(f"checkpoints/{seq:09d}.json", json.dumps(statement))
        if seal is not None:
            z.writestr("seal.json", json.dumps(seal))
    return buf.getvalue()


def test_every_tampering_is_detected_at_its_first_broken_entry():
    rng = random.Random(20261129)
    key = Ed25519PrivateKey.generate()
    signer = LogSigner(STATION, key, b"v" * 32)
    cert = station_certificate(key, STATION).public_bytes(serialization.Encoding.PEM)
    entries = build_log(signer, N)
    seal = signed_statement(signer, {"kind": "seal", "station": STATION, "seq": N, "hash": entries[-1].hash,
                                     "closed_at": "x", "counts": {}})
    checkpoints = {s: signed_statement(signer, {"kind": "checkpoint", "station": STATION, "seq": s,
                                                "hash": entries[s - 1].hash}) for s in range(100, N + 1, 100)}
    clean = verify_bundle(io.BytesIO(pack(entries, cert, seal, checkpoints)))
    assert clean.ok and clean.sealed and clean.entries == N

    other_key = Ed25519PrivateKey.generate()
    other = LogSigner("AJK-OTHER-02", other_key, b"v" * 32)
    foreign_entries = build_log(other, 50)
    forger = LogSigner(STATION, Ed25519PrivateKey.generate(), b"v" * 32)

    def altered(k):
        e = entries[k - 1]
        body = e.body.replace('"operator":"officer"', '"operator":"intruder"')
        return entries[:k - 1] + [SignedEntry(body, e.hash, e.signature)] + entries[k:], cert, seal, k

    def altered_rehashed(k):
        from station.audit.chain import sha256_hex
        e = entries[k - 1]
        body = e.body.replace('"threshold":40.0', '"threshold":10.0')
        return entries[:k - 1] + [SignedEntry(body, sha256_hex(body.encode()), e.signature)] + entries[k:], cert, seal, k

    def removed(k):
        return entries[:k - 1] + entries[k:], cert, seal, k

    def inserted_forged(k):
        fake = forger.seal({"v": 1, "seq": k + 1, "at": "2026-11-29T09:00:00+05:00", "station": STATION,
                            "event": "ballot_issued", "operator": "officer", "prev": entries[k - 1].hash, "details": {}})
        return entries[:k] + [fake] + entries[k:], cert, seal, k + 1

    def inserted_replay(k):
        j = rng.randrange(1, k + 1)
        return entries[:k] + [entries[j - 1]] + entries[k:], cert, seal, j

    def reordered(k):
        k = min(k, N - 1)
        return entries[:k - 1] + [entries[k], entries[k - 1]] + entries[k + 1:], cert, seal, k

    def truncated(k):
        cut = rng.randrange(1, 60)
        return entries[:N - cut], cert, seal, N - cut + 1

    def wrong_key(k):
        impostor_cert = station_certificate(Ed25519PrivateKey.generate(), STATION).public_bytes(serialization.Encoding.PEM)
        return entries, impostor_cert, seal, 1

    def seal_mismatch(k):
        forged_seal = signed_statement(signer, {"kind": "seal", "station": STATION, "seq": k, "hash": entries[k - 1].hash,
                                                "closed_at": "x", "counts": {}})
        return entries, cert, forged_seal, k + 1 if k < N else None

    def spliced(k):
        donor = foreign_entries[rng.randrange(len(foreign_entries))]
        return entries[:k - 1] + [donor] + entries[k:], cert, seal, k

    kinds = [altered, altered_rehashed, removed, inserted_forged, inserted_replay, reordered, truncated, wrong_key,
             seal_mismatch, spliced]
    detected, tried, by_kind = 0, 0, {}
    for i in range(520):
        mutate = kinds[i % len(kinds)]
        k = rng.randrange(2, N)
        log, cert_pem, seal_used, expected_first = mutate(k)
        cps = {s: c for s, c in checkpoints.items() if mutate is not truncated or s <= len(log)} \
            if mutate is not truncated or rng.random() < 0.5 else checkpoints
        result = verify_bundle(io.BytesIO(pack(log, cert_pem, seal_used, cps)))
        tried += 1
        by_kind[mutate.__name__] = by_kind.get(mutate.__name__, 0) + 1
        assert not result.ok, (mutate.__name__, k)
        if expected_first is not None:
            assert result.first_broken_seq == expected_first, (mutate.__name__, k, expected_first,
                                                               [(b.seq, b.kind) for b in result.breaks][:4])
        detected += 1
    assert detected == tried >= 500 and len(by_kind) == len(kinds)
