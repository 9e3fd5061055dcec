"""A scripted polling run with planted anomalies, exported, reported in English and in Urdu, and rendered in headless
Chromium (Playwright): screenshots of both in build/screenshots/, and in the Urdu one the embedded Nastaliq face
loaded and joining its letters."""
import pytest
from sqlalchemy import select

from tests.support.browser import Browser, screenshot
from tests.support.stations import ROLL_SEED, build_station
from station.audit import report_text as text
from station.security.keys import template_context
from station.db.models import BiometricReference, Voter
from station.security.users import Principal

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_pass_only(
    "the rendered report in a browser; the audit it reads runs on PostgreSQL in tests/station/audit")]

# Widths of an Urdu word as the page sets it, and of the same letters kept apart (ZERO WIDTH NON-JOINER between
# them): a face that shapes Nastaliq joins the word into a much narrower one.
JOINING = """word => {
  const span = text => { const s = document.createElement("span"); s.textContent = text; s.style.fontSize = "40px";
    s.style.whiteSpace = "nowrap"; document.body.appendChild(s); const w = s.getBoundingClientRect().width; s.remove();
    return w; };
  return [span(word), span([...word].join("\u200c"))];
}"""


def open_report(page, path):
    page.goto(path.as_uri())
    page.evaluate("document.fonts.ready.then(() => true)")
    return page


def test_planted_anomalies_show_in_the_rendered_report(tmp_path, make_database_url):
    browser = Browser()  # before the polling run: without chromium the test fails at once (require_path)
    st = build_station(tmp_path / "home", make_database_url(), audit={"min_seconds_per_voter": 20.0})
    st.init()
    st.synthesize_roll(44, ROLL_SEED)
    here = st.roll.list_voters(polling_station=st.config.station.polling_station)
    amina, bilal = Principal("amina", "polling_officer"), Principal("bilal", "polling_officer")
    presiding = Principal("presiding", "presiding_officer")
    twin_a, twin_b = here[0], here[1]
    # Plant a duplicate enrolment: voter B's right thumb on the roll is voter A's right thumb.
    with st.transaction() as s:
        refs = {r.voter.cnic: r for r in s.scalars(select(BiometricReference).join(Voter).where(
            Voter.cnic.in_([twin_a.cnic, twin_b.cnic]), BiometricReference.position == "right_thumb"))}
        plain = st.cipher.decrypt(refs[twin_a.cnic].ciphertext, template_context(twin_a.cnic, "fingerprint", "right_thumb"))
        refs[twin_b.cnic].ciphertext = st.cipher.encrypt(plain, template_context(twin_b.cnic, "fingerprint", "right_thumb"))
    for voter, who in ((twin_a, amina), (twin_b, amina)):
        st.steering.present_fingerprint(who, twin_a.cnic, "right_thumb")  # A's finger both times
        view = st.polling.capture_fingerprint(who, st.polling.start_verification(who, voter.cnic).id)
        assert view.state == "VERIFIED"
        st.polling.issue_ballot(who, view.id)
        st.polling.wait_for_cross_checks()
    def by_fingerprint(officer, voter):
        st.steering.present_fingerprint(officer, voter.cnic, voter.fingers[0])
        st.polling.issue_ballot(officer, st.polling.capture_fingerprint(officer, st.polling.start_verification(officer, voter.cnic).id).id)

    for voter in here[2:14]:  # amina's ordinary voters
        by_fingerprint(amina, voter)
    for voter in here[14:17]:  # bilal sends most of his voters to an exception
        view = st.polling.start_verification(bilal, voter.cnic)
        st.polling.issue_ballot(bilal, st.polling.record_exception(presiding, view.id, "worn_prints", None).id)
    by_fingerprint(bilal, here[17])
    bundle = tmp_path / "bundle.zip"
    st.audit.export(bundle)
    st.close()
    from click.testing import CliRunner

    from station.cli.main import main
    reports = {lang: tmp_path / f"report.{lang}.html" for lang in ("en", "ur")}
    for lang, report in reports.items():
        result = CliRunner().invoke(main, ["audit", "report", str(bundle), "--out", str(report), "--self-signed-ok",
                                           "--lang", lang])
        assert result.exit_code == 0, result.output
    page = reports["en"].read_text(encoding="utf-8")
    for kind in ("shared_finger", "too_fast", "exception_rate", "operator bilal"):
        assert kind in page, kind
    urdu = reports["ur"].read_text(encoding="utf-8")
    for kind in ("shared_finger", "too_fast", "exception_rate"):  # the kind's code beside its Urdu name
        assert f"{text.ANOMALY_KINDS[kind].ur} <code dir=\"ltr\">{kind}</code>" in urdu, kind
    assert 'پولنگ افسر <bdi dir="ltr">bilal</bdi>' in urdu
    try:
        english = open_report(browser.page(), reports["en"])
        assert english.evaluate("document.documentElement.dir") == "ltr"
        assert english.evaluate("[...document.fonts].length") == 0  # no font in the English page
        shots = [screenshot(english, "audit-report")]
        ur = open_report(browser.page(), reports["ur"])
        assert ur.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ur", "rtl"]
        assert ur.evaluate("[...document.fonts].map(f => [f.family, f.status])") == [["Noto Nastaliq Urdu", "loaded"]]
        assert ur.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily").startswith(
            '"Noto Nastaliq Urdu"')
        assert ur.evaluate("getComputedStyle(document.querySelector('h1')).direction") == "rtl"
        assert ur.evaluate("getComputedStyle(document.querySelector('pre')).direction") == "ltr"  # the JSON
        joined, apart = ur.evaluate(JOINING, "پریذائیڈنگ")
        assert joined < 0.8 * apart, (joined, apart)  # shaped: the letters join, not set one by one
        shots.append(screenshot(ur, "audit-report-ur"))
    finally:
        browser.close()
    for shot in shots:
        assert shot.stat().st_size > 20_000 and shot.read_bytes().startswith(b"\x89PNG")
