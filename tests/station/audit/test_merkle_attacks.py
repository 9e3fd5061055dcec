"""Issue 16, item 8: beyond a hash chain, for observers. The attacks the Merkle tree's signed checkpoints must catch,
written before the code that catches them:

1. a checkpoint re-signed with a fresh key (self-signed, or certified by the attacker's own "commission") is refused
   by a verifier holding the commission certificate, however well its proof computes;
2. a split view: two auditors shown two different logs are caught by comparing witnessed checkpoints (a witness
   refuses to cosign an inconsistent checkpoint; two checkpoints of one size with different roots are evidence);
3. an entry removed after a checkpoint was photographed (the QR code off the summary screen) is caught, even when the
   attacker holds the station key and rewrites the rest of the log so that the hash chain holds."""
import base64
import json

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit import merkle
from station.audit.bundle import verify_bundle
from station.audit.chain import LogSigner, genesis_hash
from station.audit.merkle_verify import (CertifiedStation, ConsistencyProof, InclusionProof, check_consistency,
                                         check_inclusion, split_view)
from station.audit.note import Checkpoint, origin_for, parse_note, sign_checkpoint
from station.audit.witness import WitnessKey, WitnessState, cosign
from station.cli.main import main
from station.security.users import Principal
from tests.support.pki import Commission, self_signed
from tests.support.transparency import append, certified_station, cut_log_from, read_qr

STATION = "AJK-MERKLE-01"


def chain(signer: LogSigner, events: list[str], start: list | None = None) -> list:
    """Signed, chained entries (the station's log format) continuing ``start``."""
    entries = list(start or [])
    prev = entries[-1].hash if entries else genesis_hash(signer.station_id)
    for event in events:
        e = signer.seal({"v": 1, "seq": len(entries) + 1, "at": "2026-11-29T09:00:00+05:00",
                         "station": signer.station_id, "event": event, "prev": prev, "details": {}})
        entries.append(e)
        prev = e.hash
    return entries


def leaves(entries) -> list[bytes]:
    return [merkle.leaf_hash(e.body.encode()) for e in entries]


def note_of(entries, key, size=None, name=None) -> str:
    size = len(entries) if size is None else size
    origin = origin_for(STATION)
    return sign_checkpoint(Checkpoint(origin, size, merkle.root(leaves(entries), size)), name or origin, key).render()


def inclusion(entries, index, note, cert_pem) -> InclusionProof:
    return InclusionProof(len(entries), index, entries[index], tuple(merkle.inclusion_path(index, leaves(entries))),
                          note, cert_pem.decode())


@pytest.fixture(scope="module")
def pki():
    commission = Commission()
    key = Ed25519PrivateKey.generate()
    return commission, key, commission.issue(key, STATION)


# --- 1. a checkpoint re-signed with a fresh key -------------------------------------------------------------------
def test_a_checkpoint_re_signed_with_a_fresh_key_is_refused(pki, tmp_path):
    commission, key, cert = pki
    genuine = chain(LogSigner(STATION, key, b"v" * 32), ["identify", "ballot_issued", "identify", "ballot_issued"])
    honest = inclusion(genuine, 2, note_of(genuine, key), cert)
    assert check_inclusion(honest, commission.pem).ok  # the genuine proof holds

    # The attacker drops a ballot, re-signs the whole log and its checkpoint with a fresh key: the proof computes.
    attacker = Ed25519PrivateKey.generate()
    forged = chain(LogSigner(STATION, attacker, b"v" * 32), ["identify", "identify", "ballot_issued"])
    forged_note = note_of(forged, attacker)
    assert merkle.verify_inclusion(1, 3, leaves(forged)[1], merkle.inclusion_path(1, leaves(forged)),
                                   parse_note(forged_note).checkpoint().root)
    other_commission = Commission()
    for carried, reason in ((self_signed(attacker, STATION), "self-signed"),
                            (other_commission.issue(attacker, STATION), "issued by another key")):
        check = check_inclusion(inclusion(forged, 1, forged_note, carried), commission.pem)
        assert not check.ok and reason in check.problems[0] and "not issued by the commission" in check.problems[0]
    # the genuine certificate carried, but the checkpoint signed by the fresh key under the station's origin
    check = check_inclusion(inclusion(forged, 1, forged_note, cert), commission.pem)
    assert not check.ok and any("not signed by station AJK-MERKLE-01's certified key" in p for p in check.problems)
    # a note the verifier holds that the attacker re-signed is refused as well
    check = check_inclusion(honest, commission.pem, checkpoints=[parse_note(note_of(genuine, attacker))])
    assert not check.ok

    # the command line: exit 1 with the reason; the commission certificate comes from the verifier, never the file
    proof_file, anchor = tmp_path / "forged.json", tmp_path / "commission.crt"
    proof_file.write_text(json.dumps(inclusion(forged, 1, forged_note, other_commission.issue(attacker, STATION))
                                     .to_dict()))
    anchor.write_bytes(commission.pem)
    env = {"STATION_HOME": str(tmp_path / "no-home")}
    run = CliRunner().invoke(main, ["audit", "check-proof", str(proof_file), "--commission-cert", str(anchor)], env=env)
    assert run.exit_code == 1 and "PROOF FAILS" in run.output and "not issued by the commission" in run.output
    run = CliRunner().invoke(main, ["audit", "check-proof", str(proof_file)], env=env)
    assert run.exit_code == 2 and "no commission certificate" in run.output

    # and a witness holding the commission certificate refuses to cosign it
    station, _ = CertifiedStation.from_pem(cert, commission.pem)
    witness = WitnessKey("observer.example/w1", Ed25519PrivateKey.generate())
    result = cosign(parse_note(forged_note), station, witness, WitnessState())
    assert not result.ok and "not signed by station" in result.message


# --- 2. a split view ------------------------------------------------------------------------------------------------
def test_a_split_view_is_caught_by_comparing_witnessed_checkpoints(pki):
    commission, key, cert = pki
    signer = LogSigner(STATION, key, b"v" * 32)
    station, problem = CertifiedStation.from_pem(cert, commission.pem)
    assert station is not None, problem
    prefix = chain(signer, ["identify", "fingerprint_attempt", "ballot_issued", "identify", "fingerprint_attempt"])
    shown_to_a = chain(signer, ["ballot_issued", "identify", "ballot_issued", "identify", "ballot_issued"], prefix)
    shown_to_b = chain(signer, ["exception", "identify", "exception", "identify", "exception"], prefix)
    a8, b8 = parse_note(note_of(shown_to_a, key, 8)), parse_note(note_of(shown_to_b, key, 8))
    a10, b10 = parse_note(note_of(shown_to_a, key, 10)), parse_note(note_of(shown_to_b, key, 10))
    for note in (a8, b8, a10, b10):  # every one is a genuine checkpoint signed by the certified station key
        assert station.checkpoint_problem(note) is None

    def proof(entries, old, new):
        return ConsistencyProof(old, new, tuple(merkle.consistency_proof(old, leaves(entries), new)), "", "",
                                cert.decode())

    w1 = WitnessKey("commission.example/witness", Ed25519PrivateKey.generate())
    w2 = WitnessKey("observer.example/party-b", Ed25519PrivateKey.generate())
    state1, state2 = WitnessState(), WitnessState()
    # auditor A's checkpoint goes to witness 1, auditor B's to witness 2: each cosigns the first it sees
    seen_a = cosign(a8, station, w1, state1)
    seen_b = cosign(b8, station, w2, state2)
    assert seen_a.ok and seen_b.ok
    # witness 1 then refuses B's view: the same size with another root, or a larger tree that does not extend A's
    refused = cosign(b8, station, w1, state1)
    assert not refused.ok and "split view" in refused.message and refused.evidence == seen_a.note
    refused = cosign(b10, station, w1, state1, proof(shown_to_b, 8, 10))
    assert not refused.ok and "not an extension" in refused.message
    assert cosign(a10, station, w1, state1, proof(shown_to_a, 8, 10)).ok  # the view it saw goes on
    # comparing the two witnessed checkpoints: same origin and size, both signed by the station, different roots
    evidence = split_view(parse_note(seen_a.note), parse_note(seen_b.note))
    assert evidence and "split view" in evidence and "8 entries" in evidence
    assert split_view(a8, parse_note(seen_a.note)) is None  # the same checkpoint cosigned is no evidence
    # the offline check given both auditors' notes says so too
    a_proof = ConsistencyProof(5, 8, tuple(merkle.consistency_proof(5, leaves(shown_to_a), 8)),
                               note_of(shown_to_a, key, 5), seen_a.note, cert.decode())
    assert check_consistency(a_proof, commission.pem, checkpoints=[parse_note(seen_a.note)]).ok
    check = check_consistency(a_proof, commission.pem, checkpoints=[parse_note(seen_a.note), parse_note(seen_b.note)])
    assert not check.ok and any("split view" in p for p in check.problems)
    # an auditor who requires witness 1's cosignature cannot accept B's log
    b_proof = ConsistencyProof(5, 8, tuple(merkle.consistency_proof(5, leaves(shown_to_b), 8)),
                               note_of(shown_to_b, key, 5), seen_b.note, cert.decode())
    check = check_consistency(b_proof, commission.pem, witnesses=[(w1.name, w1.key.public_key())])
    assert not check.ok and any("no valid cosignature of witness commission.example/witness" in p
                                for p in check.problems)


# --- 3. an entry removed after the checkpoint was photographed ------------------------------------------------------
@pytest.fixture
def commission():
    return Commission()


def test_an_entry_removed_after_a_checkpoint_was_photographed_is_caught(tmp_path, make_database_url, commission):
    st = certified_station(tmp_path / "home", make_database_url(), commission)
    try:
        append(st, 12)
        st.transparency.take("hourly")
        shown = st.transparency.summary_checkpoint(Principal("agent-watcher", "presiding_officer"))
        photographed = read_qr(base64.b64decode(shown["qr_png_base64"]))
        assert photographed == shown["note"] and parse_note(photographed).checkpoint().size == 12
        cert = st.config.keys_dir.joinpath("station.crt").read_bytes()
        station, _ = CertifiedStation.from_pem(cert, commission.pem)
        witness, state = WitnessKey("observer.example/agent", Ed25519PrivateKey.generate()), WitnessState()
        assert cosign(parse_note(photographed), station, witness, state).ok

        # The attacker holds the database and the station key: entry 7 goes, the rest is appended again, signed
        # and chained anew, the stored checkpoints are deleted and new ones taken.
        cut_log_from(st, 7)
        append(st, 6, tag="rewritten")
        assert st.audit.verify_live_log() == []  # the chain, the columns: all hold; only a checkpoint can tell
        rewritten_12 = st.transparency.take("hourly")
        append(st, 4, tag="later")
        st.transparency.take("close")

        # (a) the same size, another root, both signed by the station: evidence of a rewritten log
        assert "split view" in split_view(parse_note(photographed), rewritten_12.signed_note())
        # (b) the station's own consistency proof holds against its own notes, not against the photographed one
        proof = st.transparency.consistency(12, 16)
        assert check_consistency(proof, commission.pem).ok
        check = check_consistency(proof, commission.pem, checkpoints=[parse_note(photographed)])
        assert not check.ok and any("not an extension of the checkpoint of size 12" in p for p in check.problems)
        # (c) the bundle against the photographed checkpoint
        bundle = tmp_path / "bundle.zip"
        st.audit.export(bundle)
        assert verify_bundle(bundle, commission_cert_pem=commission.pem).ok
        held = verify_bundle(bundle, commission_cert_pem=commission.pem,
                             held_checkpoints=[("photo", photographed.encode())])
        assert not held.ok and any(b.kind == "checkpoint" and "entries 1-12 do not hash" in b.message
                                   for b in held.breaks)
        # (d) the witness who cosigned the photographed checkpoint refuses the rewritten ones
        assert "split view" in cosign(rewritten_12.signed_note(), station, witness, state).message
        refused = cosign(parse_note(proof.new_checkpoint), station, witness, state, proof)
        assert not refused.ok and "not an extension" in refused.message
    finally:
        st.close()


def test_a_tail_cut_behind_the_stored_checkpoints_is_named_by_doctor(tmp_path, make_database_url, commission):
    st = certified_station(tmp_path / "home", make_database_url(), commission)
    try:
        append(st, 9)
        st.transparency.take("hourly")
        cut_log_from(st, 8, keep_checkpoints=True)  # the last two entries go, the signed checkpoint stays
        breaks = st.audit.verify_live_log()
        assert [(b.seq, b.kind) for b in breaks] == [(8, "truncated")]
        assert "vouches for 9" in breaks[0].message
        doctor = {name: (ok, detail) for name, ok, detail in st.doctor()}
        assert not doctor["match log chain"][0] and "checkpoint of size 9" in doctor["match log chain"][1]
    finally:
        st.close()
