"""The ID-authority link (issue 8, part 2): the client against the simulated authority (mutual TLS, signed answers),
and the station's policy: with the link up the answers are logged with their signatures and non-valid CNICs are
flagged; with the link stopped, slow or answering garbage a scripted polling run ends exactly as with no link, every
officer-facing call returns within the timeout, and the queued checks are sent when the link is back; a bad signature
or an untrusted server certificate is refused and logged. The scenarios go through the station's own wiring: stations
whose [authority] configuration points at the simulator, driven by the calls the API makes (runtime.py consults the
authority, annotates the views and reports its health to doctor)."""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from station.simulation import loader
from click.testing import CliRunner
from sqlalchemy import inspect, select

from tests.support.cli import cli_for
from tests.support.stations import build_station
from drivers.fingerprint.simulated import MasterCache
from drivers.fingerprint.synthetic import render_impression
from matching.engine import make_engine
from station.db import engine as db
from station.roll import store as roll
from station.audit.chain import canonical
from station.authority import protocol
from station.simulation import authority_pki as pki
from station.authority.errors import (AuthorityCertificateUntrusted, AuthorityErrorAnswer, AuthorityNotConfigured,
                                      AuthorityResponseInvalid, AuthoritySignatureInvalid, AuthorityTimeout,
                                      AuthorityUnavailable)
from station.authority.registry import open_client
from station.authority.settings import AuthoritySettings
from station.simulation.authority_link import link_to_simulator
from station.simulation.authority import PUBLIC_KEY_FILE, AuthoritySimulator
from station.authority.checks import AuthorityChecks, AuthorityNote, note_for
from station.cli.authority import authority as authority_group
from station.config import load_config
from station.db.models import MatchLogEntry
from station.db.models import AuthorityQueueItem
from station.roll.store import EnrolledTemplate
from station.simulation.roll import build_roll, finger_subject
from station.security.users import Principal
from tests.support.paths import REPO

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_pass_only(
    "the authority's network link and its signed answers; the log rows and queue they write are station tables "
    "that tests/station/audit/test_log_rows.py runs on PostgreSQL")]

SEED = 20
VOTERS = 30
# the failure scenarios (production's default is 3 s); a normal call takes 0.1-0.2 s: a loaded CI machine keeps a margin
FAST_TIMEOUT_S = 1.5
SLOW_LINK_S = 10.0  # a slow link's answer: far beyond the timeout
UP_TIMEOUT_S = 5.0  # link up: generous, the simulator builds each fingerprint reference on first use
OFFICER = Principal("officer", "polling_officer")
PRESIDING = Principal("presiding", "presiding_officer")


# --- fixtures: one synthetic roll, copied into as many fresh stations as the scenarios need ---
@pytest.fixture(scope="module")
def roll_data(tmp_path_factory):
    config = load_config("test", home=tmp_path_factory.mktemp("cfg"), environ={})
    synthetic = build_roll(VOTERS, SEED, config.station.polling_station)
    masters = tmp_path_factory.mktemp("fingers")
    cache, matcher = MasterCache(masters), make_engine(config.fingerprint.matcher, ppi=config.fingerprint.ppi)
    templates = [  # as synth_biometrics.fingerprint_references enrols them, without NFIQ2 (faster), this station only
        EnrolledTemplate(v.cnic, "fingerprint", finger, matcher.template_format, 0, matcher.extract(
            render_impression(cache.get(finger_subject(SEED, v.cnic, finger)), impression=0)).data)
        for v in synthetic.voters if v.polling_station == config.station.polling_station
        for finger in config.fingerprint.fingers]
    return synthetic, templates, masters


@pytest.fixture(scope="module")
def stations(roll_data, tmp_path_factory, make_database_url):
    """``stations()``: a fresh station with the roll and no link. ``stations(sim, timeout_s=..., **keys)``: one whose
    own configuration links it to the simulated authority, as ``station authority setup --from-simulator`` does (the
    four files copied into STATION_HOME/keys/authority, an ``[authority]`` section in STATION_HOME/station.toml), the
    other ``[authority]`` keys given as overrides. The flow then reaches the authority through ``Station.authority``
    exactly as in production."""
    synthetic, templates, masters = roll_data
    built = []

    def make(link: AuthoritySimulator | None = None, *, timeout_s: float = UP_TIMEOUT_S, **authority):
        home = tmp_path_factory.mktemp("home")
        overrides = {"audit": {"cross_check_last": 0}}
        if link is not None:
            link_to_simulator(home, link.state_dir, link.url, public_key_file=PUBLIC_KEY_FILE, timeout_s=timeout_s)
            if authority:
                overrides["authority"] = authority
        st = build_station(home, make_database_url(), **overrides)
        st.init()
        shutil.copytree(masters, st.sim_dir / "fingers", dirs_exist_ok=True)
        with st.transaction() as s:
            loader.load_roll(s, synthetic, templates, st.cipher)
            roll.set_meta(s, "sim_faces", "{}")
        built.append(st)
        return st

    yield make
    for st in built:
        st.close()


@pytest.fixture(scope="module")
def simulator(roll_data, tmp_path_factory):
    sim = AuthoritySimulator(tmp_path_factory.mktemp("authority"), synthetic_seed=SEED, finger_cache=roll_data[2])
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator):
    simulator.reset()
    simulator.set_records({}, replace=True, default_status="valid", synthetic_seed=SEED)
    yield simulator
    simulator.reset()


def checks_for(station, settings: AuthoritySettings) -> AuthorityChecks:
    """A client with other settings than the station's own configuration (unit tests of AuthorityChecks), over the
    station's transactions, log key, template key and roll package importer."""
    return AuthorityChecks.from_settings(settings, transaction=station.transaction, signer=station.log_signer,
                                         cipher=station.cipher, importer=station.packages)


def warm_up(st) -> None:
    """Build the station's NBIS extractors for this thread now: the matcher makes them on first use, once per thread
    (about 0.5 s here, with or without a link), so the timings then measure each call, not that one-off."""
    voter = st.roll.list_voters(polling_station=st.config.station.polling_station)[0]
    finger = st.config.fingerprint.fingers[0]
    image = render_impression(MasterCache(st.sim_dir / "fingers").get(finger_subject(SEED, voter.cnic, finger)),
                              impression=1)
    probe = st.fingerprint_matcher.extract(image)
    st.fingerprint_matcher.compare(probe.data, probe.data)


def timed(calls: list[float], call, *args):
    """One officer-facing station call; its wall time goes to ``calls``."""
    started = time.monotonic()
    view = call(*args)
    calls.append(time.monotonic() - started)
    return view


@dataclasses.dataclass(frozen=True)
class PollingRun:
    outcomes: list[tuple]  # (serial, first state, last state, decided_by) per voter
    views: list  # every VerificationView the officer-facing calls returned, in order
    call_s: list[float]  # the wall time of each of those calls


def polling_run(st) -> PollingRun:
    """Ten voters: eight who verify by fingerprint, an impersonator (exception by the presiding officer), a voter of
    another station, and the first voter coming back. Only the station's own calls, as the API makes them."""
    here = st.roll.list_voters(polling_station=st.config.station.polling_station)
    elsewhere = next(v for v in st.roll.list_voters() if v.polling_station != st.config.station.polling_station)
    outcomes, views, calls = [], [], []

    def call(fn, *args):
        view = timed(calls, fn, *args)
        views.append(view)
        return view

    def finish(view, *, impostor_of=None):
        while view.state == "IDENTIFIED" and view.next_step == "fingerprint":
            st.steering.present_fingerprint(OFFICER, impostor_of or view.cnic, view.next_finger)
            view = call(st.polling.capture_fingerprint, OFFICER, view.id)
        if view.state == "NOT_VERIFIED":
            view = call(st.polling.record_exception, PRESIDING, view.id, "other",
                        "impersonation suspected, voter insisted")
        if view.state in ("VERIFIED", "EXCEPTION"):
            view = call(st.polling.issue_ballot, OFFICER, view.id)
        return view

    for voter in here[:8]:
        first = call(st.polling.start_verification, OFFICER, voter.cnic)
        last = finish(first)
        outcomes.append((voter.serial_number, first.state, last.state, last.decided_by))
    first = call(st.polling.start_verification, OFFICER, here[8].cnic)
    last = finish(first, impostor_of=here[9].cnic)
    outcomes.append((here[8].serial_number, first.state, last.state, last.decided_by))
    other = call(st.polling.start_verification, OFFICER, elsewhere.cnic)
    outcomes.append(("elsewhere", other.state, other.state, other.decided_by))
    again = call(st.polling.start_verification, OFFICER, here[0].cnic)
    outcomes.append((here[0].serial_number, again.state, again.state, again.decided_by))
    return PollingRun(outcomes, views, calls)


def assert_checks_started(run: PollingRun) -> None:
    """The views as the hook returns them: a status check pending after every voter identified on this roll, a
    fingerprint check pending after every fingerprint verification, nothing for the others."""
    identified = [v for v in run.views if v.state == "IDENTIFIED" and v.last_attempt is None]
    verified = [v for v in run.views if v.state == "VERIFIED"]
    assert len(identified) == 9 and len(verified) == 8
    assert all(v.authority["status_check"] == "pending" for v in identified)
    assert all(v.authority["biometric_check"] == "pending" for v in verified)
    assert all(v.authority is None for v in run.views if v.state in ("NOT_ON_ROLL", "ALREADY_VOTED"))


@pytest.fixture(scope="module")
def baseline(stations):
    """The same run with no link configured."""
    st = stations()
    assert not st.authority.enabled
    run = polling_run(st)
    assert [o[2] for o in run.outcomes] == ["BALLOT_ISSUED"] * 9 + ["NOT_ON_ROLL", "ALREADY_VOTED"]
    assert run.outcomes[8][3] == "exception"
    assert all(v.authority is None for v in run.views)
    with st.transaction() as s:
        assert not s.scalars(select(MatchLogEntry).where(MatchLogEntry.event.like("authority%"))).all()
        assert not s.scalars(select(AuthorityQueueItem)).all()
    return run.outcomes


def authority_entries(station, event: str | None = None) -> list[dict]:
    with station.transaction() as s:
        query = select(MatchLogEntry.body).where(MatchLogEntry.event.like("authority%")).order_by(MatchLogEntry.seq)
        bodies = [json.loads(b) for b in s.scalars(query)]
    return [b for b in bodies if event is None or b["event"] == event]


def queue_rows(station) -> list[AuthorityQueueItem]:
    with station.transaction() as s:
        return list(s.scalars(select(AuthorityQueueItem).order_by(AuthorityQueueItem.id)))


def assert_signed_answer(entry: dict, public_key) -> dict:
    """The logged answer verifies under the authority's key, offline, from the log alone."""
    d = entry["details"]
    text = "".join(d["answer"]) if isinstance(d["answer"], list) else d["answer"]  # long answers come in pieces
    public_key.verify(bytes.fromhex(d["signature"]), text.encode())
    answer = json.loads(text)
    assert canonical(answer).decode() == text
    assert answer["reference"] == d["reference"] and answer["request_id"] == d["request_id"]
    return answer


def authority_key(sim):
    return protocol.load_public_key(sim.files.authority_public_key.read_bytes())


def note_of(station, session_id: str) -> AuthorityNote | None:
    with station.transaction() as s:
        return note_for(s, session_id)


# --- the policy, end to end, through the station's own wiring ---
def test_link_up_status_and_fingerprint_answers_are_signed_and_logged(stations, sim, baseline, monkeypatch):
    st = stations(sim)
    settings = AuthoritySettings.from_config(st.config)  # what the [authority] section resolved to
    assert (settings.backend, settings.url, settings.timeout_s) == ("http", sim.url, UP_TIMEOUT_S)
    assert settings.client_key == st.config.home / "keys" / "authority" / "client.key"
    warm_up(st)
    captured, sent = [], []  # the probes capture_fingerprint extracted, the samples the client sent the authority
    extract, verify = st.fingerprint_matcher.extract, st.authority.client.verify_fingerprint
    monkeypatch.setattr(st.fingerprint_matcher, "extract",
                        lambda image: captured.append(extract(image)) or captured[-1])
    monkeypatch.setattr(st.authority.client, "verify_fingerprint",
                        lambda cnic, finger, sample: sent.append(sample) or verify(cnic, finger, sample))
    run = polling_run(st)
    assert st.authority.wait_idle(60)
    assert run.outcomes == baseline
    assert_checks_started(run)
    answers = authority_entries(st, "authority_answer")
    statuses = [a for a in answers if a["details"]["kind"] == "cnic_status"]
    prints = [a for a in answers if a["details"]["kind"] == "biometric"]
    assert len(statuses) == 9  # every voter identified on this roll; not the one of another station, not a revisit
    assert len(prints) == 8  # every fingerprint verification (not the impersonator's failed attempts)
    assert not authority_entries(st, "authority_unavailable") and not authority_entries(st, "authority_refused")
    key = authority_key(sim)
    for entry in answers:
        assert_signed_answer(entry, key)
        assert entry["operator"] == OFFICER.username and not entry["details"]["queued"]
    assert {e["outcome"] for e in statuses} == {"valid"}
    assert all(e["outcome"] == "match" and e["details"]["station_state"] == "VERIFIED" for e in prints)
    assert all(e["position"] in st.config.fingerprint.fingers for e in prints)
    assert not queue_rows(st)
    [doctor] = [c for c in st.doctor() if c[0] == "ID authority link"]
    assert doctor[1] and sim.url in doctor[2] and "0 checks queued" in doctor[2]
    # the authority's 1:1 check got the ISO 19794-2 exchange record of the very template the station captured and
    # matched, not another impression
    assert len(set(sent)) == 8
    assert all(sample[:8] == b"FMR\x00 20\x00" and sample[22] == 1 for sample in sent)  # standard layout, one view
    codes = {"right_thumb": 1, "left_thumb": 6}  # ISO/IEC 19794-2 finger position codes
    assert sorted(sample[24] for sample in sent) == sorted(codes[e["position"]] for e in prints)
    unpositioned = {st.fingerprint_matcher.exchange_record(probe.data) for probe in captured}
    assert {s[:24] + b"\x00" + s[25:] for s in sent} <= unpositioned
    # the view shows the answers: _view annotates every view the station builds
    view = st.polling.get_verification(OFFICER, prints[0]["session"])
    note = note_of(st, view.id)
    assert view.authority == note.to_dict()
    assert note.status_check == "answered" and note.cnic_status == "valid"
    assert note.biometric_check == "answered" and note.authority_match is True
    assert note.flag is None and note.message is None and "ID authority" not in view.message
    # no biometric data in the log: neither the templates sent nor anything like them
    with st.transaction() as s:
        bodies = "\n".join(s.scalars(select(MatchLogEntry.body)))
    assert not any(base64.b64encode(sample).decode()[:40] in bodies for sample in sent)
    assert '"sample"' not in bodies


def test_every_hook_call_returns_at_once_even_with_the_link_up(stations, sim):
    st = stations(sim)
    sim.set_latency(1.0)  # a slow but answering authority: the officer still never waits for it
    voter = st.roll.list_voters(polling_station=st.config.station.polling_station)[12]
    calls: list[float] = []
    warm_up(st)
    view = timed(calls, st.polling.start_verification, OFFICER, voter.cnic)
    assert view.state == "IDENTIFIED" and view.authority["status_check"] == "pending"
    shown = st.polling.get_verification(OFFICER, view.id)
    assert shown.authority["status_check"] == "pending"
    assert shown.message == view.message  # nothing to say yet
    st.steering.present_fingerprint(OFFICER, voter.cnic, view.next_finger)
    verified = timed(calls, st.polling.capture_fingerprint, OFFICER, view.id)
    assert verified.state == "VERIFIED" and verified.authority["biometric_check"] == "pending"
    assert max(calls) < FAST_TIMEOUT_S  # each answer would take 1 s
    assert st.authority.wait_idle(30)
    note = st.polling.get_verification(OFFICER, view.id).authority
    assert note["status_check"] == note["biometric_check"] == "answered" and note["authority_match"] is True


@pytest.mark.parametrize("status", ["blocked", "deceased", "unknown", "expired"])
def test_a_cnic_not_valid_is_flagged_and_the_officer_decides(stations, sim, status):
    st = stations(sim, biometric_check=False)
    voter = st.roll.list_voters(polling_station=st.config.station.polling_station)[10]
    if status == "unknown":
        sim.set_records({}, default_status="unknown")
    else:
        sim.set_records({voter.cnic: {"status": status}})
    view = st.polling.start_verification(OFFICER, voter.cnic)
    assert st.authority.wait_idle(30)
    flagged = st.polling.get_verification(OFFICER, view.id)
    note = note_of(st, view.id)
    st.steering.present_fingerprint(OFFICER, voter.cnic, view.next_finger)
    verified = st.polling.capture_fingerprint(OFFICER, view.id)
    ballot = st.polling.issue_ballot(OFFICER, verified.id)  # not refused: the officer decides
    assert st.authority.wait_idle(30)
    assert note.cnic_status == status and flagged.authority == note.to_dict()
    if status == "expired":
        assert note.flag == "notice" and "does not change" in flagged.message
    else:
        assert note.flag == "warning" and "presiding officer" in flagged.message
    assert note.message in verified.message  # the flag stays on the officer's screen
    assert flagged.state == "IDENTIFIED" and verified.state == "VERIFIED" and ballot.state == "BALLOT_ISSUED"
    [entry] = authority_entries(st, "authority_answer")  # biometric_check = false: no fingerprint check
    assert entry["outcome"] == status and entry["details"]["flag"] == note.flag
    assert json.loads(entry["details"]["answer"])["status"] == status


def test_the_authoritys_fingerprint_no_match_is_a_signal_next_to_the_stations_decision(stations, sim):
    st = stations(sim)
    voter = st.roll.list_voters(polling_station=st.config.station.polling_station)[11]
    sim.set_records({voter.cnic: {"status": "valid", "biometric": "no_match"}})
    view = st.polling.start_verification(OFFICER, voter.cnic)
    st.steering.present_fingerprint(OFFICER, voter.cnic, view.next_finger)
    verified = st.polling.capture_fingerprint(OFFICER, view.id)
    assert st.authority.wait_idle(30)
    shown = st.polling.get_verification(OFFICER, view.id)
    note = note_of(st, view.id)
    assert verified.state == shown.state == "VERIFIED"  # the station's own decision stands
    assert note.authority_match is False and note.flag == "warning" and shown.authority == note.to_dict()
    assert "fingerprint check did not match" in shown.message
    [bio] = [e for e in authority_entries(st, "authority_answer") if e["details"]["kind"] == "biometric"]
    assert bio["outcome"] == "no_match" and bio["details"]["station_state"] == "VERIFIED"
    assert bio["details"]["code"] == "110"


@pytest.mark.parametrize("failure", ["stopped", "slow", "garbage"])
def test_link_down_slow_or_garbage_keeps_the_offline_outcomes_and_the_queue_is_flushed(stations, sim, baseline,
                                                                                       failure, monkeypatch):
    st = stations(sim, timeout_s=FAST_TIMEOUT_S)
    if failure == "stopped":
        sim.set_mode("down")  # the service's port refuses connections
    elif failure == "slow":
        sim.set_latency(SLOW_LINK_S)
    else:
        sim.set_mode("garbage")
    warm_up(st)
    asked_on, ask = [], st.authority._ask
    monkeypatch.setattr(st.authority, "_ask",  # who waits for the link
                        lambda *a: asked_on.append(threading.get_ident()) or ask(*a))
    run = polling_run(st)
    assert st.authority.wait_idle(60)
    assert run.outcomes == baseline
    # the officer never waited for the link: it was asked on the background workers only, and every view came back
    # with its check pending
    assert asked_on and threading.get_ident() not in asked_on
    assert_checks_started(run)
    if failure == "slow":  # nor for the slow link's answer (a wall-clock bound far from any call's own work)
        assert max(run.call_s) < SLOW_LINK_S
    assert not authority_entries(st, "authority_answer")
    event = "authority_refused" if failure == "garbage" else "authority_unavailable"
    logged = authority_entries(st, event)
    assert len(logged) == 17 and len(authority_entries(st)) == 17  # 9 status checks + 8 fingerprint checks
    if failure == "garbage":
        assert {e["outcome"] for e in logged} == {"invalid_answer"}
    if failure == "slow":
        assert f"within {FAST_TIMEOUT_S:g} s" in logged[0]["details"]["reason"]
    rows = queue_rows(st)
    assert len(rows) == 17 and {r.state for r in rows} == {"pending"}
    assert sum(r.probe_ciphertext is not None for r in rows) == 8  # encrypted probes of the fingerprint checks
    [doctor] = [c for c in st.doctor() if c[0] == "ID authority link"]
    assert "17 checks queued" in doctor[2] and doctor[1] == (failure == "garbage")  # a refusal is no dead link
    status_row = next(r for r in rows if r.kind == "cnic_status")
    shown = st.polling.get_verification(OFFICER, status_row.session_id)  # what the officer sees afterwards
    assert shown.state == "BALLOT_ISSUED"
    assert shown.authority["status_check"] == ("refused" if failure == "garbage" else "unavailable")
    assert shown.authority["cnic_status"] is None and shown.authority["flag"] is None
    # a synchronous check is bounded by the timeout too (a fresh client: the station's knows the link is down)
    fresh = checks_for(st, AuthoritySettings.from_config(st.config))
    started = time.monotonic()
    outcome = fresh.check("cnic_status", session_id=None, cnic=rows[0].cnic, operator="t")
    assert time.monotonic() - started < FAST_TIMEOUT_S + 1.0
    assert outcome.outcome in ("queued", "refused")
    fresh.close()
    sim.reset()  # the link is back: the station's own flush (the flusher's, or `station authority flush`) sends all
    answered = 0
    for _ in range(5):  # on a loaded machine one answer may come after the short timeout: the next flush goes on
        report = st.authority.flush()
        answered += report.answered
        if report.stopped is None:
            break
    assert answered == 18 and report.pending == 0 and report.refused == 0 and report.stopped is None
    rows = queue_rows(st)
    assert {r.state for r in rows} == {"answered"} and all(r.probe_ciphertext is None for r in rows)
    answers = authority_entries(st, "authority_answer")
    assert len(answers) == 18 and all(a["details"]["queued"] and a["operator"] == "station" for a in answers)
    key = authority_key(sim)
    for a in answers:
        assert_signed_answer(a, key)
    assert {r.log_seq for r in rows} == {a["seq"] for a in answers}
    assert sum(a["outcome"] == "match" for a in answers) == 8
    assert st.polling.get_verification(OFFICER, status_row.session_id).authority["cnic_status"] == "valid"


@pytest.mark.parametrize("mode, outcome, error", [
    ("bad_signature", "bad_signature", AuthoritySignatureInvalid),
    ("untrusted_cert", "untrusted_certificate", AuthorityCertificateUntrusted),
])
def test_a_bad_signature_or_an_untrusted_server_is_refused_and_logged(stations, sim, mode, outcome, error):
    st = stations(sim)
    voter = st.roll.list_voters(polling_station=st.config.station.polling_station)[13]
    sim.set_mode(mode)
    with open_client(AuthoritySettings.from_config(st.config)) as client, pytest.raises(error):
        client.cnic_status(voter.cnic)
    view = st.polling.start_verification(OFFICER, voter.cnic)
    assert st.authority.wait_idle(30)
    shown = st.polling.get_verification(OFFICER, view.id)
    sim.reset()
    report = st.authority.flush()
    assert view.state == shown.state == "IDENTIFIED"
    assert "refused" in shown.message and "technician" in shown.message
    assert shown.authority["status_check"] == "refused" and shown.authority["cnic_status"] is None
    [refused] = authority_entries(st, "authority_refused")
    assert refused["outcome"] == outcome and refused["details"]["queued"]
    assert "refused" in refused["details"]["reason"]
    assert report.answered == 1 and report.pending == 0


def test_error_answers_are_logged_and_only_retryable_ones_are_queued(stations, sim):
    st = stations(sim)
    cnics = [v.cnic for v in st.roll.list_voters(polling_station=st.config.station.polling_station)[14:16]]
    sim.set_mode("error", error_code="131")
    retry = st.authority.check("cnic_status", session_id=None, cnic=cnics[0], operator="t")
    sim.set_mode("error", error_code="140")
    final = st.authority.check("cnic_status", session_id=None, cnic=cnics[1], operator="t")
    assert retry.outcome == final.outcome == "error"
    assert retry.queue_id is not None and final.queue_id is None
    errors = authority_entries(st, "authority_error")
    assert [e["details"]["code"] for e in errors] == ["131", "140"]
    assert [e["details"]["retry"] for e in errors] == [True, False]
    for e in errors:  # an error answer is an answer: signed and logged as it came
        authority_key(sim).verify(bytes.fromhex(e["details"]["signature"]), e["details"]["answer"].encode())


def test_a_dead_link_is_not_tried_again_until_the_next_flush(stations, sim):
    st = stations(sim, timeout_s=FAST_TIMEOUT_S)
    cnics = [v.cnic for v in st.roll.list_voters(polling_station=st.config.station.polling_station)[:5]]
    sim.set_latency(SLOW_LINK_S)
    checks = st.authority
    before = sim.requests.get("cnic_status", 0)
    first = checks.check("cnic_status", session_id=None, cnic=cnics[0], operator="t")
    rest = [checks.check("cnic_status", session_id=None, cnic=c, operator="t") for c in cnics[1:]]
    assert sim.requests.get("cnic_status", 0) - before == 1
    assert first.outcome == "queued" and first.elapsed_ms >= FAST_TIMEOUT_S * 1000 * 0.9
    assert all(r.outcome == "queued" and "not tried" in r.reason for r in rest)
    stuck = checks.flush()  # the flush tries the link: still slow, it stops at the first item
    assert stuck.sent == 1 and stuck.pending == 5 and f"within {FAST_TIMEOUT_S:g} s" in stuck.stopped
    sim.reset()
    done = checks.flush()
    assert done.answered == 5 and done.pending == 0
    assert [r.attempts for r in queue_rows(st)] == [2, 1, 1, 1, 1]



def test_checks_queued_when_the_poll_closes_stay_queued_and_nothing_follows_the_seal(stations, sim):
    """The queue is flushed by a background thread: answers that come in after the close of poll would land after
    the closing entry, and the station's own log would no longer verify. A flush after the close sends nothing and
    says why; the log still ends at the closing entry."""
    st = stations(sim, timeout_s=FAST_TIMEOUT_S)
    cnics = [v.cnic for v in st.roll.list_voters(polling_station=st.config.station.polling_station)[:2]]
    sim.set_mode("down")
    for cnic in cnics:
        assert st.authority.check("cnic_status", session_id=None, cnic=cnic, operator="t").outcome == "queued"
    sealed = st.polling.close_poll("presiding")
    sim.reset()
    asked = dict(sim.requests)
    report = st.authority.flush()
    assert report.sent == 0 and report.pending == 2 and "polls are closed" in report.stopped
    assert dict(sim.requests) == asked
    assert st.audit.verify_live_log() == []
    assert st.polling.close_poll("presiding")["sealed_seq"] == sealed["sealed_seq"]


@pytest.mark.parametrize("damaged", ["client.key", "client.crt", "ca.crt", PUBLIC_KEY_FILE])
def test_setup_from_damaged_simulator_files_writes_nothing(simulator, tmp_path, damaged):
    """`station authority setup` copied whatever the state folder held and wrote [authority]: a file cut in half
    only failed at the first check, in the middle of polling. Every file must load first; nothing is copied or
    configured otherwise."""
    from station.errors import StationError

    state = tmp_path / "state"
    shutil.copytree(simulator.state_dir, state)
    data = (state / damaged).read_bytes()
    (state / damaged).write_bytes(data[:len(data) // 2])
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(StationError, match=damaged.replace(".", "\\.")):
        link_to_simulator(home, state, simulator.url, public_key_file=PUBLIC_KEY_FILE)
    assert not (home / "station.toml").exists() and not (home / "keys" / "authority").exists()

# --- configuration ---
def test_no_link_configured_changes_nothing(stations):
    st = stations()
    checks = st.authority  # the default configuration: [authority] backend = "none"
    assert AuthoritySettings.from_config(st.config).backend == "none" and not checks.enabled
    voter = st.roll.list_voters(polling_station=st.config.station.polling_station)[16]
    view = st.polling.start_verification(OFFICER, voter.cnic)
    assert view.state == "IDENTIFIED" and view.authority is None
    assert checks.consult(view, operator="officer") is view
    assert checks.check("cnic_status", session_id=None, cnic=voter.cnic, operator="t").outcome == "not_configured"
    with pytest.raises(AuthorityNotConfigured):
        checks.flush()
    assert checks.health()[1] is True
    assert ("ID authority link", True, "not configured (offline decisions only)") in st.doctor()
    assert not authority_entries(st)


def test_a_link_with_missing_files_queues_every_check_with_the_reason(stations, sim, tmp_path):
    st = stations()
    good = sim.station_settings(st.config.station.id, timeout_s=UP_TIMEOUT_S)
    broken = dataclasses.replace(good, ca_cert=tmp_path / "missing-ca.crt")
    with pytest.raises(AuthorityNotConfigured, match="missing-ca.crt"):
        open_client(broken)
    checks = checks_for(st, broken)  # the station keeps working
    voter = st.roll.list_voters(polling_station=st.config.station.polling_station)[17]
    outcome = checks.check("cnic_status", session_id=None, cnic=voter.cnic, operator="t")
    name, ok, detail = checks.health()
    checks.close()
    assert outcome.outcome == "queued" and "misconfigured" in outcome.reason and "missing-ca.crt" in outcome.reason
    assert not ok and "missing-ca.crt" in detail
    assert authority_entries(st, "authority_unavailable")[0]["details"]["queued"]


def test_the_migration_adds_the_queue_table(stations):
    st = stations()
    assert "authority_queue" in inspect(st.engine).get_table_names()
    current, head = db.schema_status(st.engine)
    assert current == head
    indexes = {i["name"] for i in inspect(st.engine).get_indexes("authority_queue")}
    assert {"ix_authority_queue_state", "ix_authority_queue_session_id"} <= indexes


# --- the client and the protocol ---
def test_client_answers_for_records_demographics_and_fingerprints(sim, roll_data):
    synthetic = roll_data[0]
    voter = synthetic.voters[0]
    sim.set_records({voter.cnic: {"status": "valid", "name": voter.name_en, "father_name": voter.relative_name_en,
                                  "date_of_birth": voter.date_of_birth.isoformat()}}, default_status="unknown")
    master = MasterCache(roll_data[2]).get(finger_subject(SEED, voter.cnic, "right_thumb"))
    other = MasterCache(roll_data[2]).get(finger_subject(SEED, synthetic.voters[1].cnic, "right_thumb"))
    import cv2

    own_png = cv2.imencode(".png", render_impression(master, impression=3))[1].tobytes()
    other_png = cv2.imencode(".png", render_impression(other, impression=3))[1].tobytes()
    with open_client(sim.station_settings("ST-TEST", timeout_s=UP_TIMEOUT_S)) as client:
        status = client.cnic_status(voter.cnic)
        same = client.confirm_demographics(voter.cnic, voter.name_en.upper(), voter.relative_name_en,
                                           voter.date_of_birth)
        wrong = client.confirm_demographics(voter.cnic, voter.name_en, "Someone Else", voter.date_of_birth)
        genuine = client.verify_fingerprint(voter.cnic, "right_thumb", own_png)
        impostor = client.verify_fingerprint(voter.cnic, "right_thumb", other_png)
        absent = client.verify_fingerprint("12345-0000000-1", "right_thumb", own_png)
    sim.set_records({}, synthetic_seed=None)
    with open_client(sim.station_settings("ST-TEST", timeout_s=UP_TIMEOUT_S)) as client:
        no_reference = client.verify_fingerprint(voter.cnic, "left_little", own_png)
    assert status.status == "valid" and status.code == "100" and status.reference.startswith("SIM-NADRA-")
    assert same.confirmed and not wrong.confirmed and wrong.name_match and not wrong.father_name_match
    assert genuine.match and genuine.code == "100" and genuine.transaction_id == genuine.reference
    assert not impostor.match and impostor.code == "110"
    assert absent.match is False and absent.code == "101"  # no record of that CNIC
    assert not no_reference.match and no_reference.code == "111"
    assert sim.requests["demographics"] >= 2


@pytest.mark.parametrize("mode, error", [
    ("down", AuthorityUnavailable), ("hang_up", AuthorityUnavailable), ("http_503", AuthorityUnavailable),
    ("garbage", AuthorityResponseInvalid), ("bad_signature", AuthoritySignatureInvalid),
    ("untrusted_cert", AuthorityCertificateUntrusted), ("error", AuthorityErrorAnswer),
])
def test_each_failure_mode_raises_its_error(sim, mode, error):
    sim.set_mode(mode)
    with open_client(sim.station_settings("ST-TEST", timeout_s=UP_TIMEOUT_S)) as client:
        with pytest.raises(error) as raised:
            client.cnic_status("12345-1234567-1")
    assert "Traceback" not in str(raised.value) and str(raised.value)


def test_a_slow_authority_costs_at_most_the_timeout(sim):
    sim.set_latency(SLOW_LINK_S)
    with open_client(sim.station_settings("ST-TEST", timeout_s=FAST_TIMEOUT_S)) as client:
        started = time.monotonic()
        with pytest.raises(AuthorityTimeout, match=f"within {FAST_TIMEOUT_S:g} s"):
            client.cnic_status("12345-1234567-1")
    assert time.monotonic() - started < FAST_TIMEOUT_S + 1.0


def test_the_authority_refuses_a_client_certificate_it_did_not_issue(sim, tmp_path):
    ca_key, ca_cert = pki.make_ca("Another CA")
    key, cert = pki.issue(ca_key, ca_cert, "intruder", server=False)
    pki.write_private_key(tmp_path / "c.key", key)
    pki.write_certificate(tmp_path / "c.crt", cert)
    good = sim.station_settings("ST-TEST", timeout_s=UP_TIMEOUT_S)
    settings = dataclasses.replace(good, client_cert=tmp_path / "c.crt", client_key=tmp_path / "c.key")
    before = sim.requests.get("cnic_status", 0)
    with open_client(settings) as client, pytest.raises(AuthorityUnavailable):
        client.cnic_status("12345-1234567-1")
    assert sim.requests.get("cnic_status", 0) == before  # never reached the service


def _signed(fields: dict, key) -> protocol.RawAnswer:
    body = canonical(fields)
    return protocol.RawAnswer(200, body, protocol.sign(key, body), protocol.key_id(key.public_key()))


def test_an_answer_is_trusted_only_when_signed_canonical_and_for_this_request():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    request = protocol.new_request("cnic_status", "ST", cnic="12345-1234567-1")
    body = canonical(request)
    fields = {"v": 1, "kind": "cnic_status", "request_id": request["request_id"],
              "request_digest": protocol.sha256_hex(body), "reference": "R", "authority": "A", "at": "t",
              "code": "100", "message": "success", "status": "valid"}
    parsed, answer = protocol.check_answer(_signed(fields, key), key.public_key(), request, body)
    assert parsed["status"] == "valid" and answer.key_id == protocol.key_id(key.public_key())
    other = protocol.new_request("cnic_status", "ST", cnic="12345-1234567-1")
    with pytest.raises(AuthorityResponseInvalid, match="another request"):  # replayed to another request
        protocol.check_answer(_signed(fields, key), key.public_key(), other, canonical(other))
    spaced = json.dumps(fields).encode()
    with pytest.raises(AuthorityResponseInvalid, match="canonical"):
        protocol.check_answer(protocol.RawAnswer(200, spaced, protocol.sign(key, spaced), None), key.public_key(),
                              request, body)
    tampered = _signed(fields, key)
    tampered = protocol.RawAnswer(200, tampered.body.replace(b'"valid"', b'"blocked"'), tampered.signature, None)
    with pytest.raises(AuthoritySignatureInvalid):
        protocol.check_answer(tampered, key.public_key(), request, body)
    with pytest.raises(AuthorityResponseInvalid, match="malformed"):
        protocol.check_answer(_signed({k: v for k, v in fields.items() if k != "status"}, key), key.public_key(),
                              request, body)
    with pytest.raises(AuthorityResponseInvalid, match="unsigned"):
        protocol.check_answer(protocol.RawAnswer(200, body, None, None), key.public_key(), request, body)
    with pytest.raises(AuthorityUnavailable):
        protocol.check_answer(protocol.RawAnswer(502, b"bad gateway", None, None), key.public_key(), request, body)


def test_simulator_files_are_private(simulator):
    state = simulator.state_dir
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    for name in ("ca.key", "server.key", "client.key", "authority-signing.key", "rogue-ca.key"):
        assert oct((state / name).stat().st_mode & 0o777) == "0o600"


# --- the commands ---
def _cli_env(station) -> dict:
    return {"STATION_DATABASE__URL": station.config.database_url, "STATION_HOME": None, "STATION_PROFILE": None,
            "STATION_AUDIT__CROSS_CHECK_LAST": "0"}


def test_flush_and_queue_commands(stations, sim, monkeypatch):
    st = stations()
    settings = sim.station_settings(st.config.station.id, timeout_s=FAST_TIMEOUT_S)
    cnic = st.roll.list_voters(polling_station=st.config.station.polling_station)[3].cnic
    sim.set_mode("down")
    checks = checks_for(st, settings)
    assert checks.check("cnic_status", session_id=None, cnic=cnic, operator="t").outcome == "queued"
    checks.close()
    runner, group = CliRunner(), cli_for(authority_group, st.config.home)
    queued = runner.invoke(group, ["authority", "queue", "--json"], env=_cli_env(st))
    assert queued.exit_code == 0, queued.output
    assert json.loads(queued.output)["pending"] == 1
    no_link = runner.invoke(group, ["authority", "flush"], env=_cli_env(st))  # the configuration has no link yet
    assert no_link.exit_code == 3 and no_link.output.count("\n") == 1 and "no ID-authority link" in no_link.output
    monkeypatch.setattr(AuthoritySettings, "from_config", classmethod(lambda cls, config: settings))
    still_down = runner.invoke(group, ["authority", "flush", "--json"], env=_cli_env(st))
    assert still_down.exit_code == 1 and json.loads(still_down.output)["pending"] == 1
    sim.reset()
    flushed = runner.invoke(group, ["authority", "flush", "--json"], env=_cli_env(st))
    assert flushed.exit_code == 0, flushed.output
    assert json.loads(flushed.output)["answered"] == 1
    asked = runner.invoke(group, ["authority", "check", cnic], env=_cli_env(st))
    assert asked.exit_code == 0 and "valid" in asked.output
    bad = runner.invoke(group, ["authority", "check", "123"], env=_cli_env(st))
    assert bad.exit_code == 3 and "invalid CNIC" in bad.output
    assert len(authority_entries(st, "authority_answer")) == 2


def _admin(url: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=10) as response:
        return json.loads(response.read())


def _start_simulator_process(state_dir: Path, port: int = 0) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-m", "station.authority", "simulate", "--state-dir", str(state_dir),
                             "--port", str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"the simulator did not start: {proc.stderr.read()}")
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


def test_the_simulator_command_stopped_and_restarted(stations, tmp_path):
    st = stations()
    cnic = st.roll.list_voters(polling_station=st.config.station.polling_station)[4].cnic
    state = tmp_path / "authority"
    proc, info = _start_simulator_process(state)
    try:
        port = int(info["url"].rsplit(":", 1)[1])
        settings = AuthoritySettings(backend="http", url=info["url"], timeout_s=FAST_TIMEOUT_S,
                                     ca_cert=Path(info["ca_cert"]), client_cert=Path(info["client_cert"]),
                                     client_key=Path(info["client_key"]),
                                     authority_public_key=Path(info["authority_public_key"]),
                                     queue_flush_interval_s=60.0, biometric_check=True, roll_updates=False,
                                     station_id=st.config.station.id)
        checks = checks_for(st, settings)
        assert checks.check("cnic_status", session_id=None, cnic=cnic, operator="t").outcome == "answered"
        assert _admin(info["admin_url"], "/admin/mode", {"mode": "garbage"})["mode"] == "garbage"
        assert checks.check("cnic_status", session_id=None, cnic=cnic, operator="t").outcome == "refused"
        _admin(info["admin_url"], "/admin/records", {"records": {cnic: {"status": "blocked"}}})
        _admin(info["admin_url"], "/admin/reset", {})
        assert checks.check("cnic_status", session_id=None, cnic=cnic, operator="t").result == "blocked"
    finally:
        _stop(proc)
    stopped = checks.check("cnic_status", session_id=None, cnic=cnic, operator="t")
    assert stopped.outcome == "queued" and "refused" in stopped.reason.lower()
    proc, _ = _start_simulator_process(state, port)  # same state: same CA and signing key
    try:
        report = checks.flush()
    finally:
        _stop(proc)
        checks.close()
    assert report.answered == 2 and report.pending == 0  # the refused garbage check and the one made while stopped
    outcomes = [e["outcome"] for e in authority_entries(st)]
    assert outcomes == ["valid", "invalid_answer", "blocked", "queued", "valid", "valid"]


# --- roll updates from the authority (part 3): signed deltas fetched online, imported with the usual checks ---
@pytest.fixture(scope="module")
def commission(roll_data, tmp_path_factory, make_database_url):
    from station.packages.crypto import create_commission_key
    from station.roll.changes import start_revisions

    synthetic, templates, _ = roll_data
    st = build_station(tmp_path_factory.mktemp("commission"), make_database_url(), station={"id": "COMMISSION"},
                       audit={"cross_check_last": 0})
    st.init()
    with st.transaction() as s:
        loader.load_roll(s, synthetic, templates, st.cipher)
        roll.set_meta(s, "sim_faces", "{}")
        start_revisions(s)
    create_commission_key(st.config.keys_dir)
    yield st
    st.close()


def test_roll_updates_arrive_through_the_link_with_the_checks_of_a_manual_import(commission, sim, tmp_path,
                                                                                make_database_url):
    from station.packages.crypto import create_package_key, load_commission_key, load_package_key, public_pem
    from station.packages.targets import add_target
    from station.roll.changes import correct_voter, remove_voter
    from station.roll.content_hash import roll_content_hash
    from station.packages.build import build_package
    from station.packages.verify import install_trust

    ps = commission.config.station.polling_station
    st = build_station(tmp_path / "st", make_database_url(), station={"id": "ST-AUTH"}, audit={"cross_check_last": 0})
    st.init()
    create_package_key(st.config.keys_dir)
    commission_key = load_commission_key(commission.config.keys_dir)
    install_trust(st.config, public_pem(commission_key.public_key()))
    with commission.transaction() as s:
        add_target(s, "ST-AUTH", ps, load_package_key(st.config.keys_dir).public_key(), replace=True)

    def package(base=None) -> bytes:
        with commission.transaction() as s:
            return build_package(s, commission.cipher, commission_key, "ST-AUTH", base=base).data

    def roll_hash(station) -> str:
        with station.transaction() as s:
            return roll_content_hash(s, station.cipher, polling_station=ps)

    def active(station) -> dict:
        return {v.cnic: v for v in station.roll.list_voters(polling_station=ps) if v.status == "active"}

    sim.publish_package(package())  # the full roll, version 1
    checks = checks_for(st, sim.station_settings("ST-AUTH", timeout_s=UP_TIMEOUT_S, roll_updates=True))
    try:
        sim.set_mode("down")
        with pytest.raises(AuthorityUnavailable):
            checks.fetch_roll_updates()
        assert not st.roll.list_voters()
        sim.reset()
        first = checks.fetch_roll_updates()
        assert first.offered == 1 and [a["version"] for a in first.applied] == [1] and not first.rejected
        assert roll_hash(st) == roll_hash(commission)

        dead, blocked, moved = list(active(commission))[:3]
        with commission.transaction() as s:
            remove_voter(s, dead, "deceased")
            remove_voter(s, blocked, "blocked")
            correct_voter(s, moved, {"address_en": "House 7, Street 2, New Town"})
        delta = package(base=1)
        tampered = bytearray(delta)
        tampered[len(delta) // 2] ^= 0x01  # a byte of the encrypted payload: the commission's signature breaks
        sim.publish_package(bytes(tampered))
        before = roll_hash(st)
        refused = checks.fetch_roll_updates()
        assert not refused.applied and refused.rejected[0]["code"] == "tampered" and refused.version == 1
        assert roll_hash(st) == before

        sim.set_mode("bad_signature")  # the authority's own signature is checked before the package is looked at
        with pytest.raises(AuthoritySignatureInvalid):
            checks.fetch_roll_updates()
        sim.reset()
        sim.publish_package(delta)  # the genuine delta (same package id) replaces the tampered one
        second = checks.fetch_roll_updates()
    finally:
        checks.close()
    assert [a["kind"] for a in second.applied] == ["delta"] and second.version == 4 and not second.rejected
    assert roll_hash(st) == roll_hash(commission)
    now = active(st)
    assert dead not in now and blocked not in now
    assert now[moved].address_en == "House 7, Street 2, New Town"
    with st.transaction() as s:
        imports = [json.loads(b) for b in s.scalars(select(MatchLogEntry.body).where(
            MatchLogEntry.event == "roll_import").order_by(MatchLogEntry.seq))]
    assert [e["outcome"] for e in imports] == ["accepted", "rejected", "accepted"]
    listings = [e for e in authority_entries(st, "authority_answer") if e["details"]["kind"] == "roll_updates"]
    assert len(listings) == 3
    for entry in listings:
        assert_signed_answer(entry, authority_key(sim))
    [refusal] = authority_entries(st, "authority_refused")
    assert refusal["outcome"] == "bad_signature" and refusal["details"]["kind"] == "roll_updates"


def test_setup_links_a_station_to_the_simulator_with_private_key_files(sim, tmp_path):
    import tomllib

    home = tmp_path / "home"
    result = CliRunner().invoke(cli_for(authority_group, home),
                                ["authority", "setup", "--from-simulator", str(sim.state_dir), "--url", sim.url],
                                env={"STATION_HOME": None, "STATION_PROFILE": None})
    assert result.exit_code == 0, result.output
    section = tomllib.loads((home / "station.toml").read_text())["authority"]
    assert section["backend"] == "http" and section["url"] == sim.url and section["timeout_s"] == 3.0
    folder = home / "keys" / "authority"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    for key in ("ca_cert", "client_cert", "client_key", "authority_public_key"):
        assert not Path(section[key]).is_absolute()
        assert oct((home / section[key]).stat().st_mode & 0o777) == "0o600"
    settings = AuthoritySettings(backend="http", url=section["url"], timeout_s=section["timeout_s"],
                                 ca_cert=home / section["ca_cert"], client_cert=home / section["client_cert"],
                                 client_key=home / section["client_key"],
                                 authority_public_key=home / section["authority_public_key"],
                                 queue_flush_interval_s=60.0, biometric_check=True, roll_updates=False,
                                 station_id="ST-TEST")
    with open_client(settings) as client:
        assert client.cnic_status("12345-1234567-1").status == "valid"
    wrong = CliRunner().invoke(cli_for(authority_group, tmp_path / "other"),
                               ["authority", "setup", "--from-simulator", str(tmp_path), "--url", sim.url],
                               env={"STATION_HOME": None, "STATION_PROFILE": None})
    assert wrong.exit_code == 3 and "not a simulator state directory" in wrong.output
