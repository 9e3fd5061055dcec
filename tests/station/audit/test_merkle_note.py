"""Checkpoints as C2SP signed notes (station/audit/note.py), against the specifications' own examples: the known
answer of Go's golang.org/x/mod/sumdb/note (the reference implementation the C2SP signed-note text describes) for
the key hash, the verifier key and the signature line; and the tlog-checkpoint body's rules."""
import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit.note import (Checkpoint, NoteError, NoteSignature, SignedNote, key_hash, origin_for, parse_note,
                                parse_verifier_key, sign_checkpoint, sign_text, verifier_key)

# golang.org/x/mod/sumdb/note: ExampleSign / ExampleOpen
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
           "otpRZb6KE6RyyBwJnAM=\n")


def go_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(GO_SIGNER.split("+", 4)[4])
    assert raw[0] == 0x01
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_the_sumdb_note_known_answer():
    key = go_key()
    assert verifier_key("PeterNeumann", key.public_key()) == GO_VERIFIER
    assert key_hash("PeterNeumann", key.public_key()).hex() == "c74f20a3"
    # the key hash, computed here from its definition: SHA-256(name || 0x0A || 0x01 || public key)[:4]
    public = base64.b64decode(GO_VERIFIER.split("+", 2)[2])[1:]
    assert hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()[:4].hex() == "c74f20a3"
    signed = SignedNote(GO_TEXT, (sign_text(GO_TEXT, "PeterNeumann", key),))
    assert signed.render() == GO_NOTE
    name, public_key = parse_verifier_key(GO_VERIFIER)
    parsed = parse_note(GO_NOTE.encode())
    assert parsed.text == GO_TEXT and parsed.verified_by(name, public_key)


def test_a_checkpoint_body_and_its_signature_line():
    key = Ed25519PrivateKey.generate()
    root = hashlib.sha256(b"some root").digest()
    origin = origin_for("AJK-DEMO-01")
    note = sign_checkpoint(Checkpoint(origin, 1234, root), origin, key).render()
    body, _, signatures = note.partition("\n\n")
    assert body.split("\n") == ["voter-station/AJK-DEMO-01", "1234", base64.b64encode(root).decode()]
    assert signatures.startswith("\u2014 voter-station/AJK-DEMO-01 ") and signatures.endswith("\n")
    blob = base64.b64decode(signatures.split(" ")[2])
    assert blob[:4] == hashlib.sha256(origin.encode() + b"\n\x01" + key.public_key().public_bytes_raw()).digest()[:4]
    key.public_key().verify(blob[4:], (body + "\n").encode())  # the signature covers the text with its last newline
    parsed = parse_note(note)
    assert parsed.checkpoint() == Checkpoint(origin, 1234, root) and parsed.verified_by(origin, key.public_key())
    assert not parsed.verified_by(origin, Ed25519PrivateKey.generate().public_key())
    assert not parse_note(note.replace("1234", "1235")).verified_by(origin, key.public_key())


def test_a_cosignature_is_one_more_line_and_signing_twice_adds_nothing():
    station, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    origin = origin_for("S")
    note = sign_checkpoint(Checkpoint(origin, 3, b"\x01" * 32), origin, station)
    cosigned = note.cosigned("observer.example/w", witness)
    assert cosigned.render().startswith(note.render()) and cosigned.render().count("\u2014 ") == 2
    assert cosigned.cosigned("observer.example/w", witness) == cosigned
    assert parse_note(cosigned.render()).verified_by("observer.example/w", witness.public_key())
    # a line that claims the witness's key but does not verify rejects the note for that key
    name = "observer.example/w"
    forged = NoteSignature(name, key_hash(name, witness.public_key()), witness.sign(b"another text\n"))
    assert not SignedNote(cosigned.text, (*cosigned.signatures, forged)).verified_by(name, witness.public_key())
    assert parse_note(SignedNote(cosigned.text, (*cosigned.signatures, forged)).render()).verified_by(
        origin, station.public_key())  # the station's own line still verifies

@pytest.mark.parametrize("text, reason", [
    ("voter-station/S\n3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\u2014 S AAAAAAAA\n", "blank line"),
    ("voter-station/S\r\n3\n", "control characters"),
    ("voter-station/S\n3\nx\n\n- S AAAAAAAA\n", "not a signature line"),
    ("voter-station/S\n3\nx\n\n\u2014 S AAAAAAAA", "newline"),
    ("voter-station/S\n3\nx\n\n\u2014 S not*base64\n", "base64"),
    ("voter-station/S\n3\nx\n\n\u2014 S AAAA\n", "too short"),
    ("voter-station/S\n3\nx\n\n" + "\u2014 S AAAAAAAA\n" * 101, "more than 100"),
])
def test_malformed_notes_are_refused_with_the_reason(text, reason):
    with pytest.raises(NoteError, match=reason):
        parse_note(text)


@pytest.mark.parametrize("body, reason", [
    ("voter-station/S\n03\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n", "tree size"),
    ("voter-station/S\n-3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n", "tree size"),
    ("voter-station/S\n3\nAQEB\n", "3 bytes"),
    ("voter-station/S\n3\n", "three lines"),
    ("voter station\n3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n", "origin"),
    ("voter-station/S\n3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "newline"),
])
def test_malformed_checkpoints_are_refused_with_the_reason(body, reason):
    with pytest.raises(NoteError, match=reason):
        Checkpoint.parse(body)


def test_verifier_keys_are_checked():
    with pytest.raises(NoteError, match="key hash does not match"):
        parse_verifier_key(GO_VERIFIER.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(NoteError, match="not a verifier key"):
        parse_verifier_key("no key here")
    with pytest.raises(NoteError, match="cannot be a key name"):
        sign_text("x\n", "two words", Ed25519PrivateKey.generate())
