"""The auditor's report: statistics and anomalies computed from verified log entries, rendered as one
self-contained HTML page (plots embedded as PNG data URIs, no external assets)."""
from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


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
            "thresholds": self.thresholds, "anomalies": self.anomalies,
        }


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
        if event == "identify" and s is not None:
            s["start"], s["operator"] = at, e["operator"]
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
                    f.anomalies.append({"kind": "too_fast", "seq": e["seq"], "message":
                                        f"entry {e['seq']}: voter serial {e.get('serial')} identified and given a ballot "
                                        f"in {(at - s['start']).total_seconds():.1f} s (under "
                                        f"{settings.min_seconds_per_voter:.0f} s: nobody is processed that fast)"})
        elif event == "card_rejected":
            f.anomalies.append({"kind": "card_rejected", "seq": e["seq"],
                                "message": f"entry {e['seq']}: a CNIC card was refused ({e['details'].get('reason')})"})
        for other in e.get("details", {}).get("also_matches", []) or []:
            f.anomalies.append({"kind": "shared_finger", "seq": e["seq"], "message":
                                f"entry {e['seq']}: the print that verified serial {e.get('serial')} also matches "
                                f"voter {other}"})
    fast = [a for a in f.anomalies if a["kind"] == "too_fast"]
    if len(fast) > 5:
        f.anomalies = [a for a in f.anomalies if a["kind"] != "too_fast"] + fast[:5] + [{
            "kind": "too_fast", "seq": None,
            "message": f"... and {len(fast) - 5} more voters given a ballot in under "
                       f"{settings.min_seconds_per_voter:.0f} s (entries {', '.join(str(a['seq']) for a in fast[5:])})"}]
    if outside:
        f.anomalies.append({"kind": "outside_hours", "seq": outside[0], "message":
                            f"{len(outside)} entries outside polling hours {settings.polling_hours} "
                            f"({settings.timezone}), first: entry {outside[0]}"})
    for voter, n in ballots_per_voter.items():
        if voter and n > 1:
            f.anomalies.append({"kind": "double_ballot", "seq": None,
                                "message": f"voter {voter} was issued {n} ballots"})
    total_sessions = sum(f.sessions_by_operator.values())
    if total_sessions:
        station_rate = sum(f.exceptions_by_operator.values()) / total_sessions
        for operator, n in f.exceptions_by_operator.items():
            rate = n / max(f.sessions_by_operator.get(operator, 0), n)
            if n >= settings.min_exceptions_to_flag and rate > settings.exception_rate_factor * max(station_rate, 0.01):
                f.anomalies.append({"kind": "exception_rate", "seq": None, "message":
                                    f"operator {operator}: exceptions for {n} of their {f.sessions_by_operator[operator]}"
                                    f" voters ({rate:.0%}), against {station_rate:.0%} for the station"})
    return f


def _plots(f: Findings) -> list[tuple[str, str]]:
    """The report's plots as PNG data URIs, drawn with matplotlib's object API (station/plots): the report is
    rendered in the server's request threads, where pyplot's global figure and backend are not safe."""
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
    out.append(("Scores against thresholds", png_data_uri(fig)))
    fig, ax = new_figure(10, 3.2, nrows=1, ncols=2)
    hours = range(0, 24)
    ax[0].bar(list(hours), [f.ballots_by_hour.get(h, 0) for h in hours])
    ax[0].set_title("Ballots per hour (local time)")
    keys = sorted(f.attempts_per_ballot)
    ax[1].bar([str(k) for k in keys], [f.attempts_per_ballot[k] for k in keys])
    ax[1].set_title("Biometric attempts per voter given a ballot")
    out.append(("Pace and attempts", png_data_uri(fig)))
    return out


def _table(title: str, counter: Counter) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v}</td></tr>" for k, v in counter.most_common())
    return f"<h3>{html.escape(title)}</h3><table><tr><th></th><th>count</th></tr>{rows or '<tr><td>none</td><td>0</td></tr>'}</table>"


def render_html(f: Findings, verification: dict) -> str:
    status = "HOLDS" if verification.get("ok") else "BROKEN"
    breaks = "".join(f"<li>{html.escape(b['message'])}</li>" for b in verification.get("breaks", []))
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in verification.get("warnings", []))
    anomalies = "".join(f"<li><b>{html.escape(a['kind'])}</b>: {html.escape(a['message'])}</li>" for a in f.anomalies)
    plots = "".join(f"<h3>{html.escape(t)}</h3><img alt='{html.escape(t)}' src='{src}'>" for t, src in _plots(f))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Audit report: {html.escape(str(f.station))}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}}
table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:.2em .6em}}
.ok{{color:#060}}.bad{{color:#a00}}section{{display:inline-block;vertical-align:top;margin-right:2em}}</style></head>
<body><h1>Match log audit: station {html.escape(str(f.station))}</h1>
<p>Chain of {f.entries} entries: <b class="{'ok' if verification.get('ok') else 'bad'}">{status}</b>
{'(sealed at close of poll)' if verification.get('sealed') else '(not sealed)'}. Roll digest:
<code>{html.escape(str(verification.get('roll_digest')))}</code></p>
{f"<p>Signer: <b class='{'ok' if verification.get('authenticated') else 'bad'}'>{html.escape(verification['signer'])}</b></p>" if verification.get('signer') else ''}
{f'<h2>Breaks</h2><ul>{breaks}</ul>' if breaks else ''}{f'<h2>Warnings</h2><ul>{warnings}</ul>' if warnings else ''}
<h2>Flagged anomalies</h2><ul>{anomalies or '<li>none</li>'}</ul>
<h2>Outcomes</h2>
<section>{_table('Ballots by verification mode', f.ballots_by_mode)}</section>
<section>{_table('Exceptions by polling officer', f.exceptions_by_operator)}</section>
<section>{_table('Exceptions by presiding officer', f.exceptions_by_approver)}</section>
<section>{_table('Exceptions by reason', f.exceptions_by_reason)}</section>
<section>{_table('Log events', f.events)}</section>
<h2>Plots</h2>{plots}
<h2>Figures (JSON)</h2><pre>{html.escape(json.dumps(f.to_dict(), indent=1))}</pre>
</body></html>"""
