"""After `station close-poll` no transaction may change a voter: a verification started before the close cannot
capture, record an exception or issue a ballot afterwards (each would put an entry after the closing seal and make
the station's own log fail verification)."""
import pytest

from station.errors import Conflict
from station.security.users import Principal
from tests.support.stations import ROLL_SEED, build_station

pytestmark = pytest.mark.slow  # each test builds a station of its own and closes its poll

OFFICER = Principal("officer", "polling_officer")
PRESIDING = Principal("presiding", "presiding_officer")


@pytest.fixture
def closing_station(tmp_path, make_database_url):
    st = build_station(tmp_path / "home", make_database_url())
    st.init()
    st.synthesize_roll(8, ROLL_SEED)
    yield st
    st.close()


def voters_here(st):
    return st.roll.list_voters(polling_station=st.config.station.polling_station)


def test_nothing_changes_a_voter_after_the_close_and_the_log_still_verifies(closing_station):
    st = closing_station
    verified_voter, exception_voter, capture_voter = voters_here(st)[:3]
    st.steering.present_fingerprint(OFFICER, verified_voter.cnic, verified_voter.fingers[0])
    verified = st.polling.capture_fingerprint(OFFICER, st.polling.start_verification(OFFICER, verified_voter.cnic).id)
    assert verified.state == "VERIFIED"
    pending_exception = st.polling.start_verification(OFFICER, exception_voter.cnic)
    pending_capture = st.polling.start_verification(OFFICER, capture_voter.cnic)
    st.steering.present_fingerprint(OFFICER, capture_voter.cnic, capture_voter.fingers[0])

    sealed = st.polling.close_poll("presiding")

    with pytest.raises(Conflict, match="closed"):
        st.polling.issue_ballot(OFFICER, verified.id)
    with pytest.raises(Conflict, match="closed"):
        st.polling.record_exception(PRESIDING, pending_exception.id, "worn_prints", None)
    with pytest.raises(Conflict, match="closed"):
        st.polling.capture_fingerprint(OFFICER, pending_capture.id)
    with pytest.raises(Conflict, match="closed"):
        st.polling.start_verification(OFFICER, exception_voter.cnic)
    assert not any(v.voted for v in voters_here(st))
    assert st.audit.verify_live_log() == []
    assert st.audit.verification(Principal("auditor", "auditor"))["entries"] == sealed["sealed_seq"]
    assert st.polling.close_poll("presiding")["sealed_seq"] == sealed["sealed_seq"]  # the seal still covers it all


def test_after_the_close_look_up_says_polls_are_closed_and_the_live_report_says_sealed(closing_station):
    """After close-poll every look-up answered CHECK THE CNIC (staff would retype a right number), and the auditor's
    live report said "not sealed" while the exported bundle's said sealed."""
    from api import create_app
    from tests.support.stations import add_users

    st = closing_station
    add_users(st, {"officer": ("polling_officer", "officer-test-pass"), "auditor": ("auditor", "auditor-test-pass")})
    voter = voters_here(st)[0]
    auditor = Principal("auditor", "auditor")
    assert "sealed at close of poll" not in st.audit.report_html(auditor)
    st.polling.close_poll("presiding")
    assert "sealed at close of poll" in st.audit.report_html(auditor)
    client = create_app(st).test_client()
    page = client.get("/").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": "officer", "password": "officer-test-pass", "csrf_token": csrf})
    csrf = client.get("/next").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/next", data={"cnic": voter.cnic, "source": "typed", "csrf_token": csrf})
    assert answer.status_code == 409
    assert "POLLS ARE CLOSED" in answer.get_data(as_text=True) and "CHECK THE CNIC" not in answer.get_data(as_text=True)


def test_voters_still_open_at_closing_time_are_listed_and_the_close_names_them(closing_station):
    """The guide's first closing step (no voter still being verified, every verified voter given a ballot) could not
    be checked on any screen, and close-poll sealed the log over verified voters without a ballot without a word."""
    st = closing_station
    verified_voter, waiting_voter, done_voter = voters_here(st)[:3]
    st.steering.present_fingerprint(OFFICER, verified_voter.cnic, verified_voter.fingers[0])
    st.polling.capture_fingerprint(OFFICER, st.polling.start_verification(OFFICER, verified_voter.cnic).id)
    st.polling.start_verification(OFFICER, waiting_voter.cnic)
    st.steering.present_fingerprint(OFFICER, done_voter.cnic, done_voter.fingers[0])
    done = st.polling.capture_fingerprint(OFFICER, st.polling.start_verification(OFFICER, done_voter.cnic).id)
    st.polling.issue_ballot(OFFICER, done.id)
    still_open = st.polling.day_summary(PRESIDING)["open_verifications"]
    assert [(o["serial"], o["state"]) for o in still_open] == [(verified_voter.serial_number, "VERIFIED"),
                                                                (waiting_voter.serial_number, "IDENTIFIED")]
    closed = st.polling.close_poll("presiding")
    assert [o["serial"] for o in closed["open_verifications"]] == [verified_voter.serial_number,
                                                                    waiting_voter.serial_number]


def test_no_registration_step_after_the_close(closing_station):
    st = closing_station
    clerk = Principal("clerk", "registration_officer")
    started = st.registration.start(clerk, "37405-1234567-1", {
        "name_en": "Test Person", "relation": "father", "relative_name_en": "Test Father", "gender": "male",
        "date_of_birth": "1990-01-01", "address_en": "Muzaffarabad"})
    st.polling.close_poll("presiding")
    st.steering.present_person_finger(clerk, "late-registrant", "right_thumb")
    with pytest.raises(Conflict, match="closed"):
        st.registration.capture_finger(clerk, started.id, "right_thumb")
    with pytest.raises(Conflict, match="closed"):
        st.registration.cancel(clerk, started.id)
    with pytest.raises(Conflict, match="closed"):
        st.registration.start(clerk, "37405-7654321-3", {
            "name_en": "Other Person", "relation": "father", "relative_name_en": "Other Father", "gender": "male",
            "date_of_birth": "1990-01-01", "address_en": "Muzaffarabad"})
    assert st.registration.get(clerk, started.id).state == started.state
    assert st.audit.verify_live_log() == []


class _Killed(BaseException):
    """The process killed at this point: nothing after it runs."""


def _killed(*args, **kwargs):
    raise _Killed


def _close_cut_short(st, monkeypatch) -> None:
    """The state a kill during `station close-poll` leaves: the closing entry and the closed state committed, the
    seal never written."""
    from station.audit import bundle

    with monkeypatch.context() as patch:
        patch.setattr(bundle, "write_seal", _killed)
        with pytest.raises(_Killed):
            st.polling.close_poll("presiding")
    assert not (st.config.home / "audit" / "seal.json").exists()


def test_a_close_of_poll_cut_short_before_its_seal_is_sealed_at_start_and_by_doctor(closing_station, monkeypatch,
                                                                                   tmp_path):
    from station.audit.bundle import verify_bundle

    st = closing_station
    _close_cut_short(st, monkeypatch)
    checks = {name: (ok, detail) for name, ok, detail in st.doctor()}
    ok, detail = checks["closing seal"]
    assert ok and "polls closed but not sealed" in detail and "sealed now" in detail, detail
    assert (st.config.home / "audit" / "seal.json").is_file()
    assert {name: ok for name, ok, _ in st.doctor()}["closing seal"]  # and stays so, without sealing again
    out = tmp_path / "bundle.zip"
    st.audit.export(out)
    result = verify_bundle(out)
    assert result.ok and result.sealed and not any("no closing seal" in w for w in result.warnings)
    assert st.transparency.checkpoints()[-1].reason == "close"  # the close's tree checkpoint, as close-poll takes it


def test_a_closed_poll_that_cannot_be_sealed_fails_doctor(closing_station, monkeypatch):
    from station.audit import bundle

    st = closing_station
    _close_cut_short(st, monkeypatch)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bundle, "write_seal", disk_full)
    checks = {name: (ok, detail) for name, ok, detail in st.doctor()}
    ok, detail = checks["closing seal"]
    assert not ok and "polls closed but not sealed" in detail and "No space left" in detail, detail


def test_the_server_start_seals_a_close_cut_short(closing_station, monkeypatch):
    """What the server runs once at each start, when its keys are usable (cli/main.py _start_background), repairs
    what a kill left: here the seal."""
    from station.cli.main import _start_background

    st = closing_station
    _close_cut_short(st, monkeypatch)
    workers = _start_background(st)
    try:
        assert (st.config.home / "audit" / "seal.json").is_file()
    finally:
        for worker in reversed(workers):
            worker.stop()


def test_a_rejected_card_after_the_close_is_refused_and_writes_nothing(closing_station):
    """A card that fails its checks was logged as ``card_rejected`` whatever the poll's state: after the close that
    entry landed after the closing seal, the station's log no longer verified and its results export was refused.
    Now the poll's state is checked first: 409, the card is not even read, the log ends at the closing entry."""
    st = closing_station
    voter = voters_here(st)[0]
    sealed = st.polling.close_poll("presiding")
    st.steering.insert_card(OFFICER, voter.cnic, "clone")
    with pytest.raises(Conflict, match="closed"):
        st.polling.start_verification_from_card(OFFICER)
    assert st.audit.verify_live_log() == []
    assert st.audit.verification(Principal("auditor", "auditor"))["entries"] == sealed["sealed_seq"]
    assert st.polling.close_poll("presiding")["sealed_seq"] == sealed["sealed_seq"]


def test_nothing_is_appended_to_the_match_log_after_the_closing_entry(closing_station):
    """The seal is final for every writer, not only for those that remember to check: an entry of any other event
    (an ID-authority answer arriving late, a roll command) is refused by the log itself, and nothing is written."""
    from station.audit import log as matchlog

    st = closing_station
    sealed = st.polling.close_poll("presiding")
    with pytest.raises(Conflict, match="closed"):
        with st.transaction() as s:
            matchlog.append(s, st.flow.log, event="authority_answer", operator="authority", outcome="late",
                            details={})
    assert st.audit.verify_live_log() == []
    assert st.polling.close_poll("presiding")["sealed_seq"] == sealed["sealed_seq"]


def test_doctor_fails_a_sealed_log_that_grew_after_its_seal(closing_station):
    """A station whose log took an entry after the closing seal (an older version let a rejected card or a late
    ID-authority answer through) cannot export its results: doctor must say so instead of "closed and sealed"."""
    from station.audit import log as matchlog
    from station.roll import store as roll_store

    st = closing_station
    sealed = st.polling.close_poll("presiding")
    [line] = [c for c in st.doctor() if c[0] == "closing seal"]
    assert line[1] and "sealed" in line[2]
    with st.transaction() as s:  # what the older version did: an entry after the closing one
        roll_store.set_meta(s, matchlog.POLL_STATE, "open")
        matchlog.append(s, st.flow.log, event="card_rejected", operator="officer", outcome="rejected", details={})
        roll_store.set_meta(s, matchlog.POLL_STATE, matchlog.POLL_CLOSED)
    [line] = [c for c in st.doctor() if c[0] == "closing seal"]
    assert not line[1], line
    assert f"entry {sealed['sealed_seq'] + 1}" in line[2] and f"entry {sealed['sealed_seq']}" in line[2]


def test_close_poll_on_the_command_line_warns_of_voters_left_without_a_ballot(tmp_path, make_database_url):
    from click.testing import CliRunner

    from station.cli.main import main

    home = tmp_path / "cli-home"
    st = build_station(home, make_database_url())
    st.init()
    st.synthesize_roll(4, ROLL_SEED)
    waiting = voters_here(st)[0]
    st.polling.start_verification(OFFICER, waiting.cnic)
    url = st.config.database_url
    st.close()
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(home), "close-poll"],
                                env={"STATION_HOME": None, "STATION_PROFILE": None, "STATION_DATABASE__URL": url})
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (f"warning: 1 voter(s) were still being verified or had no ballot when the poll "
                                     f"closed (serial numbers {waiting.serial_number}): they cannot be given a "
                                     "ballot at this station")


def test_doctor_fails_a_closing_seal_not_signed_by_the_station(closing_station):
    """Doctor compared the seal's entry with the log's head but never checked its signature, so a seal written by
    hand (or by another key) over the right entry said "polls closed and sealed"; the bundle and the results export
    built on it then fail at the auditor's and the commission's. The same check as theirs (bundle.seal_problem)."""
    import json as _json

    from station.audit import bundle

    st = closing_station
    st.polling.close_poll("presiding")
    path = bundle.seal_path(st.config)
    statement = _json.loads(path.read_bytes())
    statement["sig"] = statement["sig"][:-4] + ("0000" if statement["sig"][-4:] != "0000" else "1111")
    path.write_text(_json.dumps(statement))
    [line] = [c for c in st.doctor() if c[0] == "closing seal"]
    assert not line[1] and "signature does not verify" in line[2], line
