"""DET curves on normal-deviate axes (station/plots/det.py), the bench's plot through that one drawing, and the
server's report drawn without pyplot (checked in a fresh interpreter, where nothing else has imported it)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from matching import metrics
from station.plots import det
from station.plots.det import DetCurve, draw_det
from station.plots.figures import new_figure, png_bytes
from tests.support.paths import REPO

# scipy.stats.norm.ppf of these rates, written out so that the test does not share the code it checks
PPF = {0.001: -3.090232306167813, 0.01: -2.3263478740408408, 0.1: -1.2815515655446004, 0.5: 0.0}


def _curve() -> DetCurve:
    """A hand-made DET through FMR 1% / FNMR 10%, with its smallest shown rate 0.2% (axes from 0.1% to 50%)."""
    return DetCurve("hand", fmr=np.array([0.5, 0.1, 0.05, 0.01, 0.002]), fnmr=np.array([0.002, 0.01, 0.05, 0.1, 0.4]),
                    eer=0.05, fmr_floor=1e-4, fnmr_floor=1e-4)


def _axes_fraction(ax, x: float, y: float) -> np.ndarray:
    """Where the data point (x, y) lands inside the axes box, as fractions of its width and height."""
    return ax.transAxes.inverted().transform(ax.transData.transform((x, y)))


def test_points_land_where_the_normal_deviate_says():
    fig, ax = new_figure(6, 5)
    draw_det(ax, [_curve()])
    assert ax.get_xlim() == pytest.approx((0.001, 0.5)) and ax.get_ylim() == pytest.approx((0.001, 0.5))
    span = PPF[0.5] - PPF[0.001]
    expected = ((PPF[0.01] - PPF[0.001]) / span, (PPF[0.1] - PPF[0.001]) / span)
    assert _axes_fraction(ax, 0.01, 0.1) == pytest.approx(expected, abs=1e-9)
    # on log axes the same point would sit elsewhere: the check above tells the two apart
    log_x = (np.log10(0.01) - np.log10(0.001)) / (np.log10(0.5) - np.log10(0.001))
    assert abs(log_x - expected[0]) > 0.05
    assert ax.transScale.transform([(0.01, 0.1)])[0] == pytest.approx((PPF[0.01], PPF[0.1]), abs=1e-9)
    # the curve is drawn from the DET points themselves (fractions), the scale does the transform
    line = next(li for li in ax.get_lines() if li.get_label().startswith("hand"))
    assert (0.01, 0.1) in {tuple(p) for p in line.get_xydata()}


def test_ticks_are_labelled_in_percent_at_their_rates():
    fig, ax = new_figure(6, 5)
    draw_det(ax, [_curve()])
    fig.canvas.draw()
    labels = {t.get_text(): t.get_position()[0] for t in ax.get_xticklabels()}
    assert list(labels) == ["0.1%", "1%", "2%", "5%", "10%", "20%", "50%"]
    assert labels["1%"] == pytest.approx(0.01) and labels["50%"] == pytest.approx(0.5)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(labels)
    assert det.percent_label(0.0001) == "0.01%" and det.percent_label(0.05) == "5%"


def test_the_eer_is_marked_on_the_diagonal_and_labelled():
    rng = np.random.default_rng(7)
    genuine, impostor = rng.normal(3, 1, 400), rng.normal(0, 1, 4000)
    curve = DetCurve.from_scores("normal", genuine, impostor)
    eer = metrics.eer(genuine, impostor)
    assert curve.eer == eer and 0.05 < eer < 0.1
    fig, ax = new_figure(6, 5)
    draw_det(ax, [curve])
    markers = [li for li in ax.get_lines() if li.get_gid() == "eer:normal"]
    assert len(markers) == 1 and markers[0].get_marker() == "o"
    assert markers[0].get_xydata().tolist() == [[eer, eer]]
    labels = [t for t in ax.texts if t.get_gid() == "eer-label:normal"]
    assert [t.get_text() for t in labels] == [f"EER {100 * eer:.2f}%"]
    assert f"normal (EER {100 * eer:.2f}%)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert png_bytes(fig).startswith(b"\x89PNG")


def test_zero_rates_are_drawn_at_the_floor_not_at_minus_infinity():
    genuine, impostor = np.arange(50.0, 60.0), np.arange(0.0, 40.0)  # separated: EER 0, FNMR 0 at FMR 0
    curve = DetCurve.from_scores("perfect", genuine, impostor)
    assert curve.eer == 0.0 and curve.fmr_floor == 0.5 / 40 and curve.fnmr_floor == 0.5 / 10
    fig, ax = new_figure(6, 5)
    draw_det(ax, [curve])
    line = next(li for li in ax.get_lines() if li.get_label().startswith("perfect"))
    shown = ax.transScale.transform(line.get_xydata())
    assert np.isfinite(shown).all()
    marker = next(li for li in ax.get_lines() if li.get_gid() == "eer:perfect")
    assert marker.get_xydata().tolist() == [[0.05, 0.05]]  # the larger floor, on the diagonal
    assert ax.get_xlim()[0] <= 0.5 / 40


def test_the_bench_plot_draws_its_det_through_the_one_function(tmp_path, monkeypatch):
    from station.bench.accuracy import plot_accuracy

    drawn = []
    real = det.draw_det

    def spy(ax, curves, **kw):
        drawn.append((ax, [c.name for c in curves]))
        return real(ax, curves, **kw)

    monkeypatch.setattr(det, "draw_det", spy)
    rng = np.random.default_rng(1)
    raw = {"sim": (rng.normal(5, 1, 200), rng.normal(0, 1, 2000), True),
           "dist": (rng.normal(0, 1, 200), rng.normal(3, 1, 2000), False)}
    out = tmp_path / "det.png"
    plot_accuracy(raw, "synthetic", out)
    assert out.read_bytes().startswith(b"\x89PNG")
    assert [names for _, names in drawn] == [["sim", "dist"]]
    ax = drawn[0][0]
    assert ax.get_xscale() == "function" and ax.get_yscale() == "function"
    assert {li.get_gid() for li in ax.get_lines()} >= {"eer:sim", "eer:dist"}


SERVER_REPORT = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    from api import create_app
    from tests.support.stations import build_station

    home = Path(tempfile.mkdtemp())
    station = build_station(home, sys.argv[1])  # the test's database: SQLite, or PostgreSQL in that pass
    station.init()
    station.accounts.add_user("auditor", "auditor-test-pass", "auditor")
    client = create_app(station).test_client()
    token = client.post("/api/auth/login", json={"username": "auditor", "password": "auditor-test-pass"}).json["token"]
    page = client.get("/api/audit/report", headers={"Authorization": f"Bearer " + token})
    station.close()
    print(json.dumps({"status": page.status_code, "pngs": page.get_data(as_text=True).count("data:image/png;base64,"),
                      "figure": "matplotlib.figure" in sys.modules, "pyplot": "matplotlib.pyplot" in sys.modules}))
""")


@pytest.mark.slow
def test_the_server_renders_the_audit_report_without_pyplot(make_database_url):
    """A fresh interpreter builds a station, serves /api/audit/report through the Flask app and reports what it
    imported: the plots were drawn (matplotlib.figure loaded, PNGs in the page) and pyplot never was."""
    run = subprocess.run([sys.executable, "-c", SERVER_REPORT, make_database_url()], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"status": 200, "pngs": 2, "figure": True, "pyplot": False}


def test_no_module_of_the_station_imports_pyplot():
    """The source check behind the one above: no module of the four packages imports matplotlib.pyplot."""
    import ast

    offenders = []
    for package in ("station", "api", "drivers", "matching"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) and node.module \
                    else []
                if any(n == "matplotlib.pyplot" or n.startswith("matplotlib.pyplot.") for n in names):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
