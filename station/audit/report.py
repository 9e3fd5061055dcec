"""The auditor's report: statistics and anomalies computed from verified log entries, rendered as one
self-contained HTML page (plots embedded as PNG data URIs, no external assets: auditors open it offline).

The page is in English or Urdu (``render_html(..., lang=)``); its every string is a ``Phrase`` of ``report_text``.
The Urdu page is right-to-left (``<html lang="ur" dir="rtl">``), with numbers, usernames, CNIC-like codes, digests
and the JSON kept left-to-right (``<bdi dir="ltr">``, ``dir="ltr"``), set in Nastaliq: Noto Nastaliq Urdu is embedded
as a base64 ``@font-face`` data URI (the 570 KB regular face, about 760 KB of base64: only in the Urdu page), with
Amiri or the system's Naskh as the fallback. The plots' own text (titles, axes, legends) stays English: matplotlib
has no complex text layout and cannot join Urdu letters, so the Urdu captions are HTML around the images. The chain
verifier's break and warning messages are shown as it wrote them, in English, marked ``lang="en"``."""
from __future__ import annotations

import datetime as dt
import html
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from station.audit import report_text as text
from station.i18n.fonts import NASTALIQ_FAMILY, URDU_FONT_STACK, find_font, font_data_uri
from station.i18n.languages import DEFAULT_LANGUAGE, RTL, Phrase, check_language, direction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportSettings:
    timezone: str = "Asia/Karachi"
    polling_hours: str = "08:00-17:00"
    min_seconds_per_voter: float = 20.0
    exception_rate_factor: float = 3.0
    min_exceptions_to_flag: int = 3


@dataclass
class Findings:
    station: str | None
    entries: int
    ballots_by_mode: Counter = field(default_factory=Counter)
    exceptions_by_operator: Counter = field(default_factory=Counter)  # the polling officer who handled the voter
    exceptions_by_approver: Counter = field(default_factory=Counter)  # the presiding officer who recorded it
    exceptions_by_reason: Counter = field(default_factory=Counter)
    sessions_by_operator: Counter = field(default_factory=Counter)
    attempts_per_ballot: Counter = field(default_factory=Counter)
    ballots_by_hour: Counter = field(default_factory=Counter)
    fingerprint_scores: dict = field(default_factory=lambda: {"match": [], "other": []})
    face_distances: dict = field(default_factory=lambda: {"match": [], "other": []})
    thresholds: dict = field(default_factory=dict)
    events: Counter = field(default_factory=Counter)
    anomalies: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "station": self.station, "entries": self.entries, "events": dict(self.events),
            "ballots_by_mode": dict(self.ballots_by_mode),
            "exceptions_by_operator": dict(self.exceptions_by_operator),
            "exceptions_by_approver": dict(self.exceptions_by_approver),
            "sessions_by_operator": dict(self.sessions_by_operator),
            "exceptions_by_reason": dict(self.exceptions_by_reason),
            "attempts_per_ballot": {str(k): v for k, v in sorted(self.attempts_per_ballot.items())},
            "ballots_by_hour": {f"{h:02d}": v for h, v in sorted(self.ballots_by_hour.items())},
            "thresholds": self.thresholds,
            "anomalies": [{k: a[k] for k in ("kind", "seq", "message")} for a in self.anomalies],  # in English
        }


def _anomaly(kind: str, seq: int | None, phrase: str | None = None, /, **values: object) -> dict:
    """An anomaly: its kind, entry, the ``report_text.ANOMALY_MESSAGES`` phrase that says it (``phrase``, else the
    kind) with its values (formatted here, once, for every language), and that sentence in English (``message``)."""
    values = {k: str(v) for k, v in values.items()}
    phrase = phrase or kind
    return {"kind": kind, "seq": seq, "message": text.ANOMALY_MESSAGES[phrase].text("en", **values),
            "phrase": phrase, "values": values}


def _parse_hours(text: str) -> tuple[dt.time, dt.time]:
    start, end = text.split("-")
    return dt.time.fromisoformat(start), dt.time.fromisoformat(end)


def analyse(bodies: list[dict], station: str | None, settings: ReportSettings = ReportSettings()) -> Findings:
    tz = ZoneInfo(settings.timezone)
    opens, closes = _parse_hours(settings.polling_hours)
    f = Findings(station=station, entries=len(bodies))
    sessions: dict[str, dict] = defaultdict(lambda: {"attempts": 0})
    outside = []
    ballots_per_voter: Counter = Counter()
    for e in bodies:
        event, at = e.get("event"), dt.datetime.fromisoformat(e["at"]).astimezone(tz)
        f.events[event] += 1
        s = sessions[e["session"]] if e.get("session") else None
        # authority answers arrive whenever the link is back (a queue flush at night is not polling activity)
        if event != "poll_closed" and not event.startswith("authority_") and not (opens <= at.time() <= closes):
            outside.append(e["seq"])
        if event == "identify" and s is not None and not (e.get("details") or {}).get("continued"):
            s["start"], s["operator"] = at, e["operator"]  # the verification's first identification only
            if e["outcome"] == "IDENTIFIED":
                f.sessions_by_operator[e["operator"]] += 1
        elif event == "fingerprint_attempt":
            (f.fingerprint_scores["match" if e["outcome"] == "match" else "other"]).append(e["score"] or 0.0)
            f.thresholds["fingerprint"] = e.get("threshold")
            if s is not None:
                s["attempts"] += 1
        elif event == "face_attempt":
            if e.get("score") is not None:
                (f.face_distances["match" if e["outcome"] == "match" else "other"]).append(e["score"])
            f.thresholds["face"] = e.get("threshold")
            if s is not None:
                s["attempts"] += 1
        elif event == "exception":
            f.exceptions_by_operator[s.get("operator", "?") if s is not None else "?"] += 1
            f.exceptions_by_approver[e["operator"]] += 1
            f.exceptions_by_reason[e["details"].get("reason", "?")] += 1
        elif event == "ballot_issued":
            f.ballots_by_mode[e["details"].get("decided_by") or "?"] += 1
            f.ballots_by_hour[at.hour] += 1
            ballots_per_voter[e.get("voter")] += 1
            if s is not None:
                f.attempts_per_ballot[s["attempts"]] += 1
                if "start" in s and (at - s["start"]).total_seconds() < settings.min_seconds_per_voter:
                    f.anomalies.append(_anomaly(
                        "too_fast", e["seq"], seq=e["seq"], serial=e.get("serial"),
                        seconds=f"{(at - s['start']).total_seconds():.1f}",
                        limit=f"{settings.min_seconds_per_voter:.0f}"))
        elif event == "card_rejected":
            f.anomalies.append(_anomaly("card_rejected", e["seq"], seq=e["seq"], reason=e["details"].get("reason")))
        for other in e.get("details", {}).get("also_matches", []) or []:
            f.anomalies.append(_anomaly("shared_finger", e["seq"], seq=e["seq"], serial=e.get("serial"), other=other))
    fast = [a for a in f.anomalies if a["kind"] == "too_fast"]
    if len(fast) > 5:
        f.anomalies = [a for a in f.anomalies if a["kind"] != "too_fast"] + fast[:5] + [_anomaly(
            "too_fast", None, "too_fast_more", count=len(fast) - 5, limit=f"{settings.min_seconds_per_voter:.0f}",
            entries=", ".join(str(a["seq"]) for a in fast[5:]))]
    if outside:
        f.anomalies.append(_anomaly("outside_hours", outside[0], count=len(outside), hours=settings.polling_hours,
                                    timezone=settings.timezone, first=outside[0]))
    for voter, n in ballots_per_voter.items():
        if voter and n > 1:
            f.anomalies.append(_anomaly("double_ballot", None, voter=voter, count=n))
    total_sessions = sum(f.sessions_by_operator.values())
    if total_sessions:
        station_rate = sum(f.exceptions_by_operator.values()) / total_sessions
        for operator, n in f.exceptions_by_operator.items():
            rate = n / max(f.sessions_by_operator.get(operator, 0), n)
            if n >= settings.min_exceptions_to_flag and rate > settings.exception_rate_factor * max(station_rate, 0.01):
                f.anomalies.append(_anomaly("exception_rate", None, operator=operator, count=n,
                                            sessions=f.sessions_by_operator[operator], rate=f"{rate:.0%}",
                                            station_rate=f"{station_rate:.0%}"))
    return f


def _plots(f: Findings) -> list[tuple[Phrase, Phrase, str]]:
    """The report's plots as (heading, caption, PNG data URI), drawn with matplotlib's object API (station/plots):
    the report is rendered in the server's request threads, where pyplot's global figure and backend are not safe.
    The text inside the images is English in every report (see the module's docstring)."""
    from station.plots.figures import new_figure, png_data_uri

    out = []
    fig, ax = new_figure(10, 3.2, nrows=1, ncols=2)
    for axis, data, key, title, xlabel in (
        (ax[0], f.fingerprint_scores, "fingerprint", "Fingerprint scores (bozorth3)", "score"),
        (ax[1], f.face_distances, "face", "Face distances", "distance"),
    ):
        if data["match"] or data["other"]:
            axis.hist([data["match"], data["other"]], bins=30, label=["match", "no match / poor"], stacked=True)
        if f.thresholds.get(key) is not None:
            axis.axvline(f.thresholds[key], color="red", linestyle="--", label="threshold")
        axis.set_title(title)
        axis.set_xlabel(xlabel)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    out.append((text.PLOT_SCORES, text.PLOT_SCORES_CAPTION, png_data_uri(fig)))
    fig, ax = new_figure(10, 3.2, nrows=1, ncols=2)
    hours = range(24)
    ax[0].bar(list(hours), [f.ballots_by_hour.get(h, 0) for h in hours])
    ax[0].set_title("Ballots per hour (local time)")
    keys = sorted(f.attempts_per_ballot)
    ax[1].bar([str(k) for k in keys], [f.attempts_per_ballot[k] for k in keys])
    ax[1].set_title("Biometric attempts per voter given a ballot")
    out.append((text.PLOT_PACE, text.PLOT_PACE_CAPTION, png_data_uri(fig)))
    return out


def _ltr(lang: str, markup: str) -> str:
    """A code, username or the verifier's words (Latin letters, set in the page's sans-serif) kept left-to-right
    inside a right-to-left page."""
    return f'<bdi dir="ltr" lang="en">{markup}</bdi>' if lang in RTL else markup


def _term(lang: str, labels: dict[str, Phrase], key: object) -> str:
    """A code of the log (an event, a mode, a reason, a kind) in the report's language, followed by the code itself
    when the words differ from it; a code the table does not know (or a username) as it is."""
    code = html.escape(str(key))
    phrase = labels.get(str(key))
    if phrase is None:
        return _ltr(lang, code)
    words = phrase.html(lang)
    return words if words == code else f'{words} <code dir="ltr">{code}</code>'


def _table(lang: str, title: Phrase, counter: Counter, labels: dict[str, Phrase] | None = None) -> str:
    rows = "".join(f"<tr><td>{_term(lang, labels or {}, k)}</td><td>{v}</td></tr>" for k, v in counter.most_common())
    empty = f"<tr><td>{text.NONE.html(lang)}</td><td>0</td></tr>"
    header = f"<tr><th></th><th>{text.COUNT.html(lang)}</th></tr>"
    return f"<h3>{title.html(lang)}</h3><table>{header}{rows or empty}</table>"


def _urdu_style() -> str:
    """The Urdu page's font and spacing: Noto Nastaliq Urdu embedded (a weight range, so that headings and bold
    words are never synthesised from the regular face), Naskh after it; Nastaliq's descending joins need the line
    height."""
    font = find_font("nastaliq-regular.ttf")
    if font is None:
        log.warning("Noto Nastaliq Urdu not found (Debian's fonts-noto-core): the Urdu report falls back to Naskh")
        face = ""
    else:
        face = (f'@font-face{{font-family:"{NASTALIQ_FAMILY}";src:url({font_data_uri(font)}) format("truetype");'
                "font-weight:100 900;font-display:block}")
    return (f"{face}body{{font-family:{URDU_FONT_STACK};line-height:2.3;word-spacing:.08em}}"
            "h1,h2,h3,b,th{font-weight:normal}h1{font-size:1.8em}h2{font-size:1.4em}"
            'code,pre,[lang="en"]{font-family:sans-serif;line-height:1.5}')


def render_html(f: Findings, verification: dict, lang: str = DEFAULT_LANGUAGE) -> str:
    """The report as one self-contained HTML page in ``lang`` ("en" or "ur"; ValueError for another)."""
    check_language(lang)

    def t(phrase: Phrase, **values: object) -> str:
        return phrase.html(lang, **values)

    ok = verification.get("ok")
    status = t(text.CHAIN_HOLDS if ok else text.CHAIN_BROKEN)
    breaks = "".join(f"<li>{html.escape(b['message'])}</li>" for b in verification.get("breaks", []))
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in verification.get("warnings", []))
    problems = "".join(f'<h2>{t(heading)}</h2><p>{t(text.VERIFIER_WORDS)}</p><ul dir="ltr" lang="en">{items}</ul>'
                       for heading, items in ((text.BREAKS, breaks), (text.WARNINGS, warnings)) if items)
    anomalies = "".join(
        f"<li><b>{_term(lang, text.ANOMALY_KINDS, a['kind'])}</b>: "
        f"{text.ANOMALY_MESSAGES[a['phrase']].html(lang, **a['values'])}</li>" for a in f.anomalies)
    plots = "".join(f"<h3>{t(title)}</h3><img alt='{html.escape(title.text(lang))}' src='{src}'>"
                    f"<p class='caption'>{t(caption)}</p>"
                    for title, caption, src in _plots(f))
    signer = (f"<p>{t(text.SIGNER)} <b class='{'ok' if verification.get('authenticated') else 'bad'}'>"
              f"{_ltr(lang, html.escape(verification['signer']))}</b></p>" if verification.get("signer") else "")
    return f"""<!doctype html><html lang="{lang}" dir="{direction(lang)}"><head><meta charset="utf-8">
<title>{html.escape(text.TITLE.text(lang, station=f.station))}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}}
table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:.2em .6em}}
.ok{{color:#060}}.bad{{color:#a00}}section{{display:inline-block;vertical-align:top;margin-inline-end:2em}}
.caption{{color:#444;font-size:.9em}}code{{color:#555}}{_urdu_style() if lang == "ur" else ""}</style></head>
<body><h1>{t(text.HEADING, station=f.station)}</h1>
<p>{t(text.CHAIN, entries=f.entries)} <b class="{'ok' if ok else 'bad'}">{status}</b>
{t(text.SEALED if verification.get('sealed') else text.NOT_SEALED)} {t(text.ROLL_DIGEST)}
<code dir="ltr">{html.escape(str(verification.get('roll_digest')))}</code>
{'' if verification.get('roll_digest_signed') else t(text.ROLL_DIGEST_UNSIGNED)}</p>
{signer}
{problems}
<h2>{t(text.ANOMALIES)}</h2><ul>{anomalies or f'<li>{t(text.NONE)}</li>'}</ul>
<h2>{t(text.OUTCOMES)}</h2>
<section>{_table(lang, text.BALLOTS_BY_MODE, f.ballots_by_mode, text.MODES)}</section>
<section>{_table(lang, text.EXCEPTIONS_BY_OPERATOR, f.exceptions_by_operator)}</section>
<section>{_table(lang, text.EXCEPTIONS_BY_APPROVER, f.exceptions_by_approver)}</section>
<section>{_table(lang, text.EXCEPTIONS_BY_REASON, f.exceptions_by_reason, text.REASONS)}</section>
<section>{_table(lang, text.LOG_EVENTS, f.events, text.EVENTS)}</section>
<h2>{t(text.PLOTS)}</h2>{plots}
<h2>{t(text.FIGURES_JSON)}</h2><pre dir="ltr">{html.escape(json.dumps(f.to_dict(), indent=1))}</pre>
</body></html>"""
