"""A scripted polling run with planted anomalies, exported, reported and rendered in headless Chromium."""
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.require import INSTALL_TEST, require
from tests.support.stations import REPO, build_station
from station.security.keys import template_context
from station.db.models import BiometricReference, Voter
from station.security.users import Principal

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = REPO / "build" / "screenshots"


def chromium_screenshot(url: str, out: Path, profile: Path, size: str = "1366,2400") -> None:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--window-size={size}", f"--screenshot={out}", url],
                   check=True, capture_output=True, timeout=120)


def test_planted_anomalies_show_in_the_rendered_report(tmp_path, make_database_url):
    require(CHROMIUM is not None, "chromium", INSTALL_TEST.format("chromium"), legacy="STATION_REQUIRE_BROWSER")
    st = build_station(tmp_path / "home", make_database_url(), audit={"min_seconds_per_voter": 20.0})
    st.init()
    st.synthesize_roll(44, seed=41, workers=1)
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
    bundle, report = tmp_path / "bundle.zip", tmp_path / "report.html"
    st.audit.export(bundle)
    st.close()
    from click.testing import CliRunner

    from station.cli.main import main
    result = CliRunner().invoke(main, ["audit", "report", str(bundle), "--out", str(report), "--self-signed-ok"])
    assert result.exit_code == 0, result.output
    page = report.read_text()
    for kind in ("shared_finger", "too_fast", "exception_rate", "operator bilal"):
        assert kind in page, kind
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "audit-report.png"
    chromium_screenshot(report.as_uri(), shot, tmp_path / "chromium-profile")
    assert shot.stat().st_size > 20_000 and shot.read_bytes().startswith(b"\x89PNG")
