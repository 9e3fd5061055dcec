"""``station audit checkpoint|checkpoints|prove|consistency`` on a station, and the observers' offline commands
``check-proof``, ``witness-key`` and ``witness``; bad input is one line naming the problem, never a traceback."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.audit.note import parse_note
from station.cli.main import main
from tests.support.pki import Commission
from tests.support.transparency import append, certified_station

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path, make_database_url):
    """A certified station with 8 entries, its commission certificate in a file, and the command line on it."""
    commission = Commission()
    url = make_database_url()
    st = certified_station(tmp_path / "home", url, commission)
    append(st, 8)
    anchor = tmp_path / "commission.crt"
    anchor.write_bytes(commission.pem)
    env = {"STATION_HOME": str(tmp_path / "home"), "STATION_PROFILE": "test", "STATION_DATABASE__URL": url}

    def run(*args, code=0):
        result = CliRunner().invoke(main, [str(a) for a in args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    yield st, run, anchor, tmp_path
    st.close()


def one_line_error(result, *words):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(w in lines[0] for w in words), lines[0]


def test_checkpoints_and_proofs_from_the_command_line(site):
    st, run, anchor, tmp = site
    taken = json.loads(run("audit", "checkpoint", "--reason", "open").output)
    assert taken["tree_size"] == 8 and taken["reason"] == "open"
    assert parse_note(Path(taken["files"][0]).read_text()).checkpoint().size == 8
    append(st, 3)
    run("audit", "checkpoint")
    listed = run("audit", "checkpoints").output.splitlines()
    assert [line.split()[0] for line in listed] == ["8", "11"] and "manual" in listed[1]
    assert [c["tree_size"] for c in json.loads(run("audit", "checkpoints", "--json").output)] == [8, 11]

    run("audit", "prove", 5, "--out", tmp / "inclusion.json")
    out = run("audit", "check-proof", tmp / "inclusion.json", "--commission-cert", anchor).output
    assert "PROOF HOLDS" in out and "entry 5 is in the tree of 8 entries" in out
    run("audit", "consistency", 8, 11, "--out", tmp / "consistency.json")
    checked = json.loads(run("audit", "check-proof", tmp / "consistency.json", "--commission-cert", anchor,
                             "--json").output)
    assert checked["ok"] and any("extends the log of 8 entries" in h for h in checked["held"])

    # a proof element changed: exit 1, naming what failed
    proof = json.loads((tmp / "inclusion.json").read_text())
    proof["path"][0] = proof["path"][1]
    (tmp / "tampered.json").write_text(json.dumps(proof))
    out = run("audit", "check-proof", tmp / "tampered.json", "--commission-cert", anchor, code=1).output
    assert "PROOF FAILS" in out and "does not lead to the root" in out
    # the verifier's own checkpoint replaces the file's; one of another size is bad input
    (tmp / "mine.note").write_text(st.transparency.stored(8).note)
    run("audit", "check-proof", tmp / "inclusion.json", "--checkpoint", tmp / "mine.note", "--commission-cert", anchor)
    (tmp / "c11.note").write_text(st.transparency.stored(11).note)
    one_line_error(run("audit", "check-proof", tmp / "inclusion.json", "--checkpoint", tmp / "c11.note",
                       "--commission-cert", anchor, code=3), "not one this proof is for")

def test_a_witness_cosigns_a_growing_log_and_refuses_a_rollback(site):
    st, run, anchor, tmp = site
    st.transparency.take("open")
    append(st, 4)
    st.transparency.take("hourly")
    (tmp / "c8.note").write_text(st.transparency.stored(8).note)
    (tmp / "c12.note").write_text(st.transparency.stored(12).note)
    vkey = run("audit", "witness-key", "--out", tmp / "w.key", "--name", "observer.example/w").output.strip()
    assert vkey.startswith("observer.example/w+")
    witness = ("--key", tmp / "w.key", "--state", tmp / "w.state", "--commission-cert", anchor)
    first = run("audit", "witness", tmp / "c8.note", *witness, "--station-cert", st.config.keys_dir / "station.crt",
                "--out", tmp / "c8.cosigned")
    assert "cosigned voter-station/AJK-DEMO-01 at 8 entries" in first.output
    run("audit", "consistency", 8, 12, "--out", tmp / "p.json")
    run("audit", "witness", tmp / "c12.note", *witness, "--proof", tmp / "p.json", "--out", tmp / "c12.cosigned")
    # the cosigned checkpoints carry the witness's line; an auditor may require it
    run("audit", "check-proof", tmp / "p.json", "--checkpoint", tmp / "c8.cosigned", "--checkpoint",
        tmp / "c12.cosigned", "--witness-key", vkey, "--commission-cert", anchor)
    out = run("audit", "check-proof", tmp / "p.json", "--witness-key", vkey, "--commission-cert", anchor, code=1).output
    fails = [line.strip() for line in out.splitlines() if "FAIL:" in line]  # the file's own notes: neither cosigned
    assert fails == [f"FAIL: the checkpoint of size {n} carries no valid cosignature of witness observer.example/w"
                     for n in (8, 12)], out
    # only the newer cosigned note given: the older checkpoint of the proof is the one that fails, by its size
    out = run("audit", "check-proof", tmp / "p.json", "--checkpoint", tmp / "c12.cosigned", "--witness-key", vkey,
              "--commission-cert", anchor, code=1).output
    assert "ok: checkpoint of size 12 cosigned by witness observer.example/w" in out
    assert [line.strip() for line in out.splitlines() if "FAIL:" in line] == [fails[0]], out
    refused = run("audit", "witness", tmp / "c8.note", *witness, "--station-cert", st.config.keys_dir / "station.crt",
                  code=1)
    assert "rollback" in refused.output and (tmp / "c12.cosigned").read_text() in refused.output  # the evidence
    # no proof for a larger tree: refused, saying what is needed
    append(st, 1)
    (tmp / "c13.note").write_text(st.transparency.take("hourly").note)
    assert "consistency proof from size 12" in run("audit", "witness", tmp / "c13.note", *witness, "--station-cert",
                                                   st.config.keys_dir / "station.crt", code=1).output


def test_bad_input_is_one_line(site):
    st, run, anchor, tmp = site
    (tmp / "junk").write_text("not json, not a note")
    one_line_error(run("audit", "prove", 99, "--out", tmp / "x.json", code=3), "no entry 99")
    one_line_error(run("audit", "prove", 3, "--out", tmp / "x.json", code=3), "no checkpoint covers entry 3")
    one_line_error(run("audit", "consistency", 8, 5, "--out", tmp / "x.json", code=3), "0 < OLD <= NEW")
    one_line_error(run("audit", "check-proof", tmp / "missing.json", "--commission-cert", anchor, code=2),
                   "proof file", "No such file")
    one_line_error(run("audit", "check-proof", tmp / "junk", "--commission-cert", anchor, code=1), "not a proof file")
    one_line_error(run("audit", "check-proof", tmp / "junk", "--commission-cert", tmp / "junk", code=3),
                   "not a PEM certificate")
    st.transparency.take("open")
    run("audit", "prove", 3, "--out", tmp / "p.json")
    one_line_error(run("audit", "check-proof", tmp / "p.json", "--checkpoint", tmp / "junk", "--commission-cert",
                       anchor, code=3), "blank line")
    one_line_error(run("audit", "check-proof", tmp / "p.json", "--witness-key", "nonsense", "--commission-cert",
                       anchor, code=3), "not a verifier key")
    one_line_error(run("audit", "witness-key", "--out", tmp / "k", "--name", "two words", code=3), "witness name")
    run("audit", "witness-key", "--out", tmp / "k", "--name", "w")
    one_line_error(run("audit", "witness-key", "--out", tmp / "k", "--name", "w", code=3), "keeps its key")
    one_line_error(run("audit", "witness", tmp / "junk", "--key", tmp / "nokey", "--state", tmp / "s",
                       "--commission-cert", anchor, code=2), "witness key", "No such file")  # a path not there
    (tmp / "c.note").write_text(st.transparency.stored(8).note)
    one_line_error(run("audit", "witness", tmp / "c.note", "--key", tmp / "k", "--state", tmp / "s",
                       "--commission-cert", anchor, code=2), "--station-cert")
    one_line_error(run("audit", "witness", tmp / "c.note", "--key", tmp / "k", "--state", tmp / "junk",
                       "--station-cert", st.config.keys_dir / "station.crt", "--commission-cert", anchor, code=3),
                   "not a witness state file")
    one_line_error(run("audit", "witness", tmp / "c.note", "--key", tmp / "k", "--state", tmp / "s",
                       "--proof", tmp / "p.json", "--commission-cert", anchor, code=3), "inclusion proof")
    one_line_error(run("audit", "verify", tmp / "junk", "--checkpoint", tmp / "missing.note", code=2),
                   "checkpoint", "No such file")
    # a cosigned note that cannot be written: refused before the state says it was cosigned
    cosign = ("audit", "witness", tmp / "c.note", "--key", tmp / "k", "--state", tmp / "s", "--station-cert",
              st.config.keys_dir / "station.crt", "--commission-cert", anchor, "--out")
    one_line_error(run(*cosign, tmp / "nodir" / "c.cosigned", code=2),
                   f"cannot write {tmp / 'nodir' / 'c.cosigned'}: no such folder {tmp / 'nodir'}")
    assert not (tmp / "s").exists() and not (tmp / "nodir").exists()
    run(*cosign, tmp / "c.cosigned")
    assert (tmp / "s").is_file() and (tmp / "c.cosigned").is_file()

def test_verify_a_bundle_against_a_checkpoint_you_hold(site):
    st, run, anchor, tmp = site
    (tmp / "held.note").write_text(st.transparency.take("open").note)
    run("audit", "export", "--out", tmp / "bundle.zip")
    out = json.loads(run("audit", "verify", tmp / "bundle.zip", "--commission-cert", anchor, "--checkpoint",
                         tmp / "held.note", "--json").output.splitlines()[0])
    assert out["ok"] and out["tree_checkpoints"] == 2  # the bundle's own and the one held
    # a checkpoint of a longer log than the bundle's: the tail was cut off
    append(st, 2)
    (tmp / "later.note").write_text(st.transparency.take("hourly").note)
    out = run("audit", "verify", tmp / "bundle.zip", "--commission-cert", anchor, "--checkpoint", tmp / "later.note",
              code=1).output
    assert "BROKEN from entry 9" in out and "cut off the end" in out


def test_the_offline_verifier_and_the_witness_need_no_database():
    code = ("import sys, station.audit.merkle_verify, station.audit.witness; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('sqlalchemy', 'flask') or m.startswith(('station.db', 'station.config'))))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"

