"""The auditor's report in English and Urdu: every phrase translated with the same values, the Urdu page right-to-left
in an embedded Nastaliq face with values kept left-to-right, English the default with the same sections."""
import base64
import re

import pytest

from station.audit import report
from station.audit import report_text as text
from station.audit.report import analyse, render_html
from station.i18n.fonts import find_font
from station.i18n.languages import Phrase

URDU_LETTERS = re.compile("[\u0600-\u06ff]")
VERIFICATION = {"ok": True, "breaks": [{"message": "entry 9: bad signature"}], "warnings": ["not sealed"],
                "sealed": False, "roll_digest": "ab12", "signer": "station ST-1, self-signed", "authenticated": False}


def planted_bodies() -> list[dict]:
    """A day with a too-fast voter, one entry after hours, an officer with many exceptions, a refused card and a
    print that matches another voter."""
    base = {"v": 1, "station": "S", "details": {}}
    bodies = []

    def add(**kw):
        bodies.append({**base, "seq": len(bodies) + 1, **kw})

    def voter(session, operator, at, exception=False, ballot_at=None):
        add(event="identify", session=session, at=at, outcome="IDENTIFIED", operator=operator, voter=session, serial=7)
        if exception:
            add(event="exception", session=session, at=at, outcome="EXCEPTION", operator="presiding",
                details={"reason": "worn_prints"})
        add(event="ballot_issued", session=session, at=ballot_at or at.replace(":00+", ":59+"), outcome="BALLOT_ISSUED",
            operator=operator, voter=session, serial=7,
            details={"decided_by": "exception" if exception else "fingerprint"})

    voter("fast", "amina", "2026-11-29T08:30:00+05:00", ballot_at="2026-11-29T08:30:03+05:00")
    voter("late", "amina", "2026-11-29T19:00:00+05:00")
    for i in range(12):
        voter(f"a{i}", "amina", f"2026-11-29T10:{i:02d}:00+05:00")
    for i in range(4):
        voter(f"b{i}", "bilal", f"2026-11-29T11:{i:02d}:00+05:00", exception=i < 3)
    add(event="card_rejected", at="2026-11-29T12:00:00+05:00", outcome="rejected", operator="amina",
        details={"reason": "expired"})
    add(event="fingerprint_attempt", session="a0", at="2026-11-29T12:01:00+05:00", outcome="match", operator="amina",
        score=80.0, threshold=40.0, serial=7, details={"also_matches": ["12345-1234567-1"]})
    return bodies


@pytest.fixture(scope="module")
def findings():
    return analyse(planted_bodies(), "ST-1")


@pytest.fixture(scope="module")
def pages(findings):
    return {lang: render_html(findings, VERIFICATION, lang) for lang in ("en", "ur")}


def test_every_report_phrase_has_an_urdu_translation_with_the_same_values():
    phrases = text.all_phrases()
    assert len(phrases) > 60
    for name, phrase in phrases.items():
        assert phrase.en.strip() and phrase.ur.strip(), name
        assert URDU_LETTERS.search(phrase.ur) and not URDU_LETTERS.search(phrase.en), name
        assert phrase.placeholders("ur") == phrase.placeholders("en"), name
    # every anomaly the analysis can flag has a name and a sentence; every configured exception reason a label
    assert set(text.ANOMALY_MESSAGES) >= set(text.ANOMALY_KINDS)
    from station.config import load_config

    assert set(load_config("test", environ={}).policy.exception_reasons) <= set(text.REASONS)


def test_anomalies_are_said_in_either_language_from_the_same_values(findings):
    kinds = {a["kind"] for a in findings.anomalies}
    assert {"too_fast", "outside_hours", "exception_rate", "card_rejected", "shared_finger"} <= kinds
    rate = next(a for a in findings.anomalies if a["kind"] == "exception_rate")
    assert rate["message"] == "operator bilal: exceptions for 3 of their 4 voters (75%), against 17% for the station"
    urdu = text.ANOMALY_MESSAGES[rate["phrase"]].html("ur", **rate["values"])
    assert urdu.startswith('پولنگ افسر <bdi dir="ltr">bilal</bdi>:') and '<bdi dir="ltr">75%</bdi>' in urdu
    assert findings.to_dict()["anomalies"][0].keys() == {"kind", "seq", "message"}  # the JSON stays as it was


def test_the_urdu_report_is_right_to_left_in_an_embedded_nastaliq(pages):
    page = pages["ur"]
    assert page.startswith('<!doctype html><html lang="ur" dir="rtl">')
    for heading in (text.ANOMALIES, text.OUTCOMES, text.PLOTS, text.EXCEPTIONS_BY_OPERATOR, text.PLOT_SCORES):
        assert heading.ur in page, heading.en
    assert f"<title>{text.TITLE.ur.format(station='ST-1')}</title>" in page
    font = find_font("nastaliq-regular.ttf")
    assert font is not None, "Noto Nastaliq Urdu (Debian's fonts-noto-core) is a run-time dependency of the report"
    embedded = re.search(
        r'@font-face\{font-family:"Noto Nastaliq Urdu";src:url\(data:font/ttf;base64,([A-Za-z0-9+/=]+)\)', page)
    assert embedded and base64.b64decode(embedded.group(1)) == font.read_bytes()
    assert 700_000 < len(embedded.group(1)) < 800_000  # the 570 KB face, as base64: the Urdu page's main weight
    assert '"Noto Nastaliq Urdu", "Amiri", "Noto Naskh Arabic", serif' in page  # Naskh after Nastaliq
    # values, codes and the verifier's English stay left-to-right inside the Urdu
    assert '<h1>میچ لاگ کا آڈٹ: اسٹیشن <bdi dir="ltr">ST-1</bdi></h1>' in page
    assert '<code dir="ltr">ab12</code>' in page and '<pre dir="ltr">' in page
    assert '<ul dir="ltr" lang="en"><li>entry 9: bad signature</li></ul>' in page
    assert f'{text.REASONS["worn_prints"].ur} <code dir="ltr">worn_prints</code>' in page
    assert '<td><bdi dir="ltr" lang="en">bilal</bdi></td><td>3</td>' in page
    body = page.split("<body>")[1]
    assert "http" not in body.split("<pre")[0] and "src='data:image/png;base64," in body  # self-contained


def test_english_stays_the_default_with_the_same_sections(findings, pages):
    english = pages["en"]
    assert render_html(findings, VERIFICATION) == english
    assert english.startswith('<!doctype html><html lang="en" dir="ltr">')
    assert "@font-face" not in english and "data:font" not in english and "<bdi" not in english
    assert "Match log audit: station ST-1" in english and "operator bilal: exceptions for 3" in english
    assert "<b class=\"ok\">HOLDS</b>" in english
    for tag in ("<h1", "<h2", "<h3", "<table", "<tr", "<section", "<img", "<li", "<p class='caption'"):
        assert english.count(tag) == pages["ur"].count(tag), tag
    with pytest.raises(ValueError, match="unknown language"):
        render_html(findings, VERIFICATION, "fr")


def test_without_the_nastaliq_font_the_urdu_report_falls_back_to_naskh(findings, monkeypatch, caplog):
    monkeypatch.setattr(report, "find_font", lambda name: None)
    page = render_html(findings, VERIFICATION, "ur")
    assert "@font-face" not in page and '"Amiri", "Noto Naskh Arabic", serif' in page
    assert "fonts-noto-core" in caplog.text


def test_a_phrase_escapes_and_isolates_its_values():
    phrase = Phrase("voter {voter} <b>", "ووٹر {voter} <b>")
    assert phrase.html("en", voter="<x>") == "voter &lt;x&gt; &lt;b&gt;"
    assert phrase.html("ur", voter="12345-1234567-1") == 'ووٹر <bdi dir="ltr">12345-1234567-1</bdi> &lt;b&gt;'
    assert phrase.text("ur", voter="1") == "ووٹر 1 <b>"


def test_the_cli_writes_the_report_in_the_language_asked_for(station, tmp_path):
    from click.testing import CliRunner

    from station.cli.main import main

    bundle = tmp_path / "bundle.zip"
    station.audit.export(bundle)
    pages = {}
    for lang in ("ur", "en"):
        out = tmp_path / f"report.{lang}.html"
        result = CliRunner().invoke(main, ["audit", "report", str(bundle), "--out", str(out), "--self-signed-ok",
                                           "--lang", lang])
        assert result.exit_code == 0, result.output
        pages[lang] = out.read_text(encoding="utf-8")
    assert pages["ur"].startswith('<!doctype html><html lang="ur" dir="rtl">') and text.ANOMALIES.ur in pages["ur"]
    assert "data:font/ttf;base64," in pages["ur"]
    assert pages["en"].startswith('<!doctype html><html lang="en" dir="ltr">')
    refused = CliRunner().invoke(main, ["audit", "report", str(bundle), "--out", str(tmp_path / "x.html"),
                                        "--self-signed-ok", "--lang", "fr"])
    assert refused.exit_code == 2 and "'fr' is not one of 'en', 'ur'" in refused.output
    assert not (tmp_path / "x.html").exists()


def _logged_events() -> set[str]:
    """Every event name the station's code writes to the match log: the ``event=`` of a call, and the event argument
    of the registration flow's ``_log`` (read from the source, not from the report's own table)."""
    import ast
    from pathlib import Path

    import station

    events = set()
    for path in Path(station.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg == "event" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    events.add(kw.value.value)
            if getattr(node.func, "id", None) == "_log" and len(node.args) >= 4 and isinstance(node.args[3], ast.Constant):
                events.add(node.args[3].value)
    return events


def test_every_event_the_station_logs_has_its_words_in_both_languages():
    """The Urdu report showed every registration event (enrollment_started, ...) and the commission's roll events
    under their code names, in English letters."""
    events = _logged_events()
    assert {"identify", "ballot_issued", "enrollment_started", "roll_trust"} <= events  # the scan finds them
    missing = sorted(e for e in events if e not in text.EVENTS)
    assert not missing, missing
    for event in events:
        assert URDU_LETTERS.search(text.EVENTS[event].ur), event
