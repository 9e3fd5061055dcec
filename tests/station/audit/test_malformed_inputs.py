"""Files from outside that are well-formed JSON of the wrong shape, or nested deeper than the parser goes: each is a
check that fails (a break, a refusal naming the file), never an internal error (the command line's exit 70)."""
import io
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit.bundle import verify_bundle
from station.audit.chain import LogSigner
from station.audit.identity import station_certificate
from tests.station.audit.test_audit_mutations import build_log, pack

DEEP = "[" * 50_000


@pytest.fixture(scope="module")
def signed():
    key = Ed25519PrivateKey.generate()
    signer = LogSigner("AJK-BAD-01", key, b"v" * 32)
    return build_log(signer, 5), station_certificate(key, "AJK-BAD-01").public_bytes(serialization.Encoding.PEM)


def _bundle(signed, extra_lines=(), roll=None) -> io.BytesIO:
    import zipfile

    entries, cert = signed
    raw = pack(entries, cert, None, {})
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "log.jsonl":
                data += "".join(line + "\n" for line in extra_lines).encode()
            if name == "roll.json" and roll is not None:
                data = roll.encode()
            dst.writestr(name, data)
    out.seek(0)
    return out


@pytest.mark.parametrize("line", [
    json.dumps({"body": 7, "hash": "00", "sig": "00"}),  # a body that is a number
    json.dumps({"body": json.dumps({"seq": "6"}), "hash": "00", "sig": "00"}),  # a sequence number that is text
    json.dumps({"body": ["x"], "hash": None, "sig": {}}),
    DEEP,
])
def test_a_malformed_log_line_is_a_break(signed, line):
    result = verify_bundle(_bundle(signed, [line]))
    assert not result.ok and result.breaks


def test_a_deeply_nested_roll_file_is_reported_not_fatal(signed):
    result = verify_bundle(_bundle(signed, roll=DEEP))
    assert "roll.json is unreadable" in result.warnings


def test_a_deeply_nested_proof_is_refused():
    from station.audit.merkle_verify import ProofFileError, read_proof

    with pytest.raises(ProofFileError, match="not JSON"):
        read_proof(DEEP)


def test_a_deeply_nested_results_file_is_refused():
    from station.central.errors import SyncFileRejected
    from station.central.records import parse_results

    with pytest.raises(SyncFileRejected, match="not JSON"):
        parse_results(DEEP.encode(), expected_format="x")


def test_a_deeply_nested_witness_state_is_refused(tmp_path):
    from station.audit.witness import WitnessFileError, WitnessState

    path = tmp_path / "state.json"
    path.write_text(DEEP)
    with pytest.raises(WitnessFileError, match="not a witness state file"):
        WitnessState.load(path)


def test_an_audit_export_with_a_damaged_station_certificate_is_refused(tmp_path, make_database_url):
    """The bundle carries keys/station.crt for the auditor: with that file damaged, the export used to succeed and
    write a bundle no one could verify. Refused now, naming the file; nothing is written."""
    from station.errors import KeyMissing
    from tests.support.stations import build_station

    st = build_station(tmp_path / "home", make_database_url())
    st.init()
    try:
        cert = st.config.keys_dir / "station.crt"
        cert.write_bytes(cert.read_bytes()[:100])
        with pytest.raises(KeyMissing, match="station.crt is damaged"):
            st.audit.export(tmp_path / "bundle.zip")
        assert not (tmp_path / "bundle.zip").exists()
    finally:
        st.close()
