"""Progress on the long steps (roll synth, bench flow, bench registration, roll import): the steps report, and the
bar is drawn on standard error only when it is a terminal."""
import io

from station.cli.common import StderrProgress
from tests.support.stations import build_station


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_synthesizing_a_roll_reports_every_finger(tmp_path, make_database_url):
    st = build_station(tmp_path / "home", make_database_url())
    st.init()
    heard = []
    summary = st.synthesize_roll(3, 5, workers=1, progress=lambda stage, done, total: heard.append((stage, done, total)))
    fingers = summary["fingerprint_templates"]
    assert heard == [("fingers", n, fingers) for n in range(1, fingers + 1)]
    st.close()


def test_the_bar_is_drawn_on_a_terminal_only(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with StderrProgress(min_total=1) as progress:
        for done in range(1, 11):
            progress("voters", done, 10)
    assert "voters" in terminal.getvalue() and "100%" in terminal.getvalue()

    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    with StderrProgress(min_total=1) as progress:
        progress("voters", 10, 10)
    assert pipe.getvalue() == ""
