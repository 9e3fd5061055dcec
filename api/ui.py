"""The registrar UI: server-rendered pages over the same station services as the JSON API. Signed in with a
server-side session (the cookie holds an opaque id: ``api/sessions.py``) that holds an API token, so expiry,
revocation and disabled users apply alike and signing out deletes the token; every form carries a CSRF token (the
session's, or signed out a stateless one bound to the browser: ``api.requests.csrf_token``). Each screen is allowed
to the roles in ``SCREENS`` (the role-matrix test reads it).

Screens: the officers' next voter / verification, roll search, summary, technician, auditor; and the registration
centre's register / capture (registration officer, registrar) and adjudication queue / decision (registrar only)."""
from __future__ import annotations

import dataclasses
import functools
import re
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from flask import (Blueprint, Response, abort, current_app, g, redirect, render_template, request, send_file,
                   session, url_for)
from flask_babel import get_locale, gettext as _, ngettext
from werkzeug.exceptions import HTTPException

from station.audit.report_text import EVENTS as LOG_EVENTS, REASONS as EXCEPTION_REASONS
from station.registration.flow import Demographics
from station.errors import AuthenticationFailed, InvalidCnic, NotPermitted, OpenRegistration, StationError
from station.i18n.fonts import FONT_LICENCES, FONTS, SYSTEM_FONT_DIRS
from station.security.lockouts import Lockout, LockoutsView, clear_lockout, lockouts
from station.security.roles import (AUDIT_ROLES, DEVICE_ROLES, FAULT_ROLES, KEY_UNLOCK_ROLES, LOCKOUT_CLEAR_ROLES,
                                     LOCKOUT_ROLES, OFFICERS, REGISTRAR_ROLES, REGISTRATION_STAFF, SUMMARY_ROLES)
from station.security.throttle import MAX_ADDRESS_CHARS, MAX_USERNAME_CHARS

from .device_cookie import sign_in
from .errors import STATUS, error_page
from .requests import check_csrf, csrf_token, station
from .sessions import IDLE_ENDED

bp = Blueprint("ui", __name__)

SCREENS = {  # screen -> roles (GET pages; their form posts need the same roles)
    "next": OFFICERS, "verify": OFFICERS, "search": OFFICERS, "summary": SUMMARY_ROLES,
    "technician": DEVICE_ROLES, "audit": AUDIT_ROLES,
    "register": REGISTRATION_STAFF, "capture": REGISTRATION_STAFF, "adjudication": REGISTRAR_ROLES,
    "decide": REGISTRAR_ROLES, "keys": KEY_UNLOCK_ROLES,
}
HOME = {"polling_officer": "ui.next_voter", "presiding_officer": "ui.next_voter", "technician": "ui.technician",
        "auditor": "ui.audit", "registration_officer": "ui.register", "registrar": "ui.adjudication"}
# The registration form: the CNIC, the roll fields (station.registration.flow.Demographics) and the polling station.
DEMOGRAPHIC_FIELDS = Demographics.field_names()
CARD_DETAIL_FIELDS = ("address_en", "address_ur", "census_block", "family_number")  # not on the card
# Urdu is set in Nastaliq, as its readers write it, with Naskh as the fallback; both served from this machine, never
# a CDN (which fonts, and why: station/i18n/fonts.py, shared with the auditor's report).
FONT_DIRS = (Path(__file__).resolve().parent / "static" / "fonts", *SYSTEM_FONT_DIRS)


class SignedOut(Exception):
    pass


def flash(kind: str, text: str) -> None:
    session["flash"] = [*session.get("flash", []), [kind, text]][-3:]


def _principal():
    token = session.get("token")
    if not token:
        raise SignedOut
    try:
        return station().accounts.authenticate(token)
    except AuthenticationFailed as exc:
        session.pop("token", None)
        flash("error", _("Your session has ended (%(why)s): please sign in again.", why=str(exc)))
        raise SignedOut from None


SIGNED_OUT_POST, RETURN_TO = "signed_out_post", "return_to"  # session keys, kept until the next sign-in
SCREEN_OF: dict[str, str] = {}  # endpoint -> its screen (``screen``), to tell who may be sent back to a page


def _return_path(role: str) -> str | None:
    """The page a session ended on, when the user signing in may open it (another role goes to its home)."""
    path = session.get(RETURN_TO)
    if not path:
        return None
    try:
        endpoint, _args = current_app.url_map.bind(request.host).match(urlsplit(path).path, method="GET")
    except HTTPException:
        return None
    screen_name = SCREEN_OF.get(endpoint)
    return path if screen_name is not None and role in SCREENS[screen_name] else None


def _remember_signed_out_request() -> None:
    """A signed-out request to a screen from a browser whose session ended (signed out in another tab, idle, its
    token revoked): where to go back after signing in (the page itself, or for a form sent from a page still open,
    that page: this site's paths only), and for a form, that nothing it sent was done. A browser with no session
    gets none here, as on the sign-in page (station/security/sessions.py: a flood of visits makes no sessions)."""
    if not session:
        return
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    if request.method == "POST":
        session[SIGNED_OUT_POST] = True
        referrer = urlsplit(request.referrer or "")
        if referrer.netloc == request.host and referrer.path.startswith("/") and not referrer.path.startswith("//"):
            target = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    if target:
        session[RETURN_TO] = target
    else:
        session.pop(RETURN_TO, None)


def screen(name: str):
    """A UI view for the roles of SCREENS[name]: signed-out users go to the login page, wrong roles get 403, form
    posts must carry the CSRF token."""
    roles = SCREENS[name]

    def decorate(view):
        SCREEN_OF[f"{bp.name}.{view.__name__}"] = name

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                g.principal = _principal()
            except SignedOut:
                _remember_signed_out_request()
                return redirect(url_for("ui.index"))
            if g.principal.role not in roles:
                return error_page(403, _("Your role may not open this screen."))
            if request.method == "POST":
                try:
                    check_csrf()
                except NotPermitted as exc:
                    return error_page(403, str(exc))
            g.screen = name
            return view(*args, **kwargs)

        return wrapper

    return decorate


def lang_url(lang: str) -> str:
    """The current screen in another language (keeps its query). The path is built from the matched route, never
    copied from the request: a 404's path such as /\\evil.example/x would be a link off the station (browsers read
    /\\ and // as another host), so a page that matched no route links to the sign-in page instead."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"] + [("lang", lang)]
    if request.url_rule is None:
        return f"{url_for('ui.index')}?{urlencode([('lang', lang)])}"
    return f"{url_for(request.endpoint, **(request.view_args or {}))}?{urlencode(args)}"


@bp.app_context_processor
def _ui_context():
    principal = g.get("principal")
    return {"csrf_token": csrf_token, "lang_url": lang_url, "principal": principal,
            "screens": SCREENS, "finger_label": finger_label, "reason_label": reason_label, "kind_label": kind_label,
            "position_label": position_label, "capture_status_label": capture_status_label,
            "enrollment_reason_label": enrollment_reason_label, "field_label": field_label,
            "voter_status_label": voter_status_label, "role_label": role_label,
            "lockout_scope_label": lockout_scope_label, "state_label": state_label,
            "device_status_label": device_status_label, "fault_label": fault_label, "event_label": event_label,
            "outcome_label": outcome_label, "checkpoint_reason_label": checkpoint_reason_label,
            "power": station().power.status() if principal else None,
            "keys_locked": bool(principal) and station().keys.store.locked,  # every screen says so (base.html)
            "unlocks_keys": bool(principal) and principal.role in KEY_UNLOCK_ROLES,
            # the server ends a signed-in session unused this long (api/sessions.py): the page leaves then (app.js)
            "idle_seconds": round(current_app.session_interface.store.idle_s) if principal else None,
            "flashes": session.pop("flash", []) if request.method == "GET" else []}


def role_label(role: str | None) -> str:
    return {"polling_officer": _("Polling officer"), "presiding_officer": _("Presiding officer"),
            "technician": _("Technician"), "auditor": _("Auditor"),
            "registration_officer": _("Registration officer"), "registrar": _("Registrar")}.get(role or "", role or "")


def finger_label(finger: str | None) -> str:
    labels = {
        "right_thumb": _("right thumb"), "right_index": _("right index finger"),
        "right_middle": _("right middle finger"), "right_ring": _("right ring finger"),
        "right_little": _("right little finger"), "left_thumb": _("left thumb"),
        "left_index": _("left index finger"), "left_middle": _("left middle finger"),
        "left_ring": _("left ring finger"), "left_little": _("left little finger"),
    }
    return labels.get(finger or "", finger or "")


def position_label(position: str | None) -> str:
    """A registration position: a finger or the face."""
    return _("face") if position == "face" else finger_label(position)


def capture_status_label(status: str | None) -> str:
    return {"not_captured": _("not captured"), "retry": _("retry"), "accepted": _("accepted"),
            "below_gate": _("below the quality gate (best kept)"),
            "exception": _("exception")}.get(status or "", status or "")


def enrollment_reason_label(reason: str | None) -> str:
    return {"amputated": _("amputated or missing"), "injured": _("injured"), "bandaged": _("bandaged"),
            "unusable_prints": _("unusable prints"), "other": _("other")}.get(reason or "", reason or "")


def voter_status_label(status: str | None) -> str:
    return {"active": _("active"), "pending": _("pending (until the next roll update)"), "removed": _("removed"),
            "unknown": _("not on the roll")}.get(status or "", status or "")


def field_label(name: str | None) -> str:
    return {"cnic": _("CNIC"), "name_en": _("Name (English)"), "name_ur": _("Name (Urdu)"),
            "relation": _("Relation"), "relative_name_en": _("Father's or husband's name (English)"),
            "relative_name_ur": _("Father's or husband's name (Urdu)"), "gender": _("Gender"),
            "date_of_birth": _("Date of birth"), "address_en": _("Address (English)"),
            "address_ur": _("Address (Urdu)"), "census_block": _("Census block"),
            "family_number": _("Family number"), "polling_station": _("Polling station")}.get(name or "", name or "")


def kind_label(kind: str | None) -> str:
    return {"card": _("CNIC card reader"), "fingerprint": _("fingerprint scanner"),
            "camera": _("camera"), "power": _("power supply")}.get(kind or "", kind or "")


def state_label(state: str | None) -> str:
    """A verification's state in the words its screen uses."""
    return {"NOT_ON_ROLL": _("NOT ON THIS STATION'S ROLL"), "ALREADY_VOTED": _("ALREADY VOTED"),
            "IDENTIFIED": _("IDENTIFIED, NOT YET VERIFIED"), "VERIFIED": _("VERIFIED"),
            "NOT_VERIFIED": _("NOT VERIFIED"), "EXCEPTION": _("EXCEPTION RECORDED"),
            "BALLOT_ISSUED": _("BALLOT ISSUED")}.get(state or "", state or "")


def outcome_label(outcome: str | None) -> str:
    """A log entry's outcome: a verification's state, or an attempt's result, in the words the screens use."""
    attempts = {"match": _("Match"), "no_match": _("No match"), "poor_quality": _("Poor quality: retry")}
    return attempts.get(outcome or "") or state_label(outcome)


def checkpoint_reason_label(reason: str | None) -> str:
    return {"open": _("poll opening"), "hourly": _("hourly"), "close": _("close of poll"),
            "power": _("power event"), "manual": _("taken by hand")}.get(reason or "", reason or "")


def device_status_label(status: str | None) -> str:
    return {"Ready": _("ready"), "Busy": _("busy"), "NotReady": _("not ready"), "Disconnected": _("disconnected"),
            "Unavailable": _("unavailable")}.get(status or "", status or "")


def fault_label(fault: str | None) -> str:
    return {"timeout": _("no answer (time-out)"), "busy": _("busy"), "not_ready": _("not ready"),
            "disconnect": _("disconnected"), "none": _("none: clear the scripted faults")}.get(fault or "", fault or "")


def event_label(event: str | None) -> str:
    """A match log event in the page's language: the words the auditor's report uses (written once there)."""
    phrase = LOG_EVENTS.get(event or "")
    return phrase.text(str(get_locale())) if phrase else event or ""


def reason_label(reason: str | None) -> str:
    """An exception reason in the page's language: the words the auditor's report uses (written once there)."""
    phrase = EXCEPTION_REASONS.get(reason or "")
    return phrase.text(str(get_locale())) if phrase else reason or ""


# --- signing in and out ---
@bp.get("/")
def index():
    token = session.get("token")
    if token:
        try:
            principal = station().accounts.authenticate(token)
            return redirect(url_for(HOME[principal.role]))
        except AuthenticationFailed:
            session.pop("token", None)
    idle = session.pop(IDLE_ENDED, None)  # the last session ended unattended (api/sessions.py): say so, once
    notice = ngettext("Your session ended after %(num)s minute without use: please sign in again.",
                      "Your session ended after %(num)s minutes without use: please sign in again.",
                      idle) if idle else None
    if session.pop(SIGNED_OUT_POST, None):
        notice = _("You were signed out: what you sent was not recorded. Sign in and do it again.")
    return render_template("login.html", notice=notice)


@bp.post("/login")
def login():
    try:
        check_csrf()
    except NotPermitted as exc:
        return error_page(403, str(exc))
    username = request.form.get("username", "")[:MAX_USERNAME_CHARS]
    password = request.form.get("password", "")[:256]
    try:
        result = sign_in(username, password)  # with this browser's device cookie, and a renewed one on success
    except StationError as exc:
        status = 429 if hasattr(exc, "retry_after_s") else 401 if isinstance(exc, AuthenticationFailed) else 400
        message = (_("Too many failed attempts: try again in %(s)s seconds.", s=exc.retry_after_s) if status == 429
                   else _("Wrong username or password.") if status == 401 else str(exc))
        response = render_template("login.html", error=message, username=username), status
        return (*response, {"Retry-After": str(exc.retry_after_s)}) if status == 429 else response
    lang, previous, back = session.get("lang"), session.get("token"), _return_path(result["role"])
    session.clear()  # a fresh session (new id, new CSRF token) after sign-in
    session.rotate()
    session.update(token=result["token"], lang=lang or "en")
    if previous:  # signing in again over a live session: its token goes
        station().accounts.logout(previous)
    return redirect(back or url_for("ui.index"))  # back to the page the session ended on (this site's paths only)


@bp.post("/logout")
def logout():
    try:
        check_csrf()
    except NotPermitted as exc:
        return error_page(403, str(exc))
    lang, token = session.get("lang"), session.get("token")
    session.clear()  # the session is forgotten on the server and gets a new id ...
    session.rotate()
    session["lang"] = lang or "en"
    if token:  # ... and its API token is deleted: a copy of the old cookie opens nothing
        station().accounts.logout(token)
    return redirect(url_for("ui.index"))


@bp.get("/fonts/<name>")
def font(name: str):
    licence = FONT_LICENCES.get(name)
    if licence is not None and licence.is_file():
        return send_file(licence, mimetype="text/plain")
    filename = FONTS.get(name)
    if filename:
        for folder in FONT_DIRS:
            if (folder / filename).is_file():
                response = send_file(folder / filename, mimetype="font/ttf", max_age=86400)
                response.headers["Cache-Control"] = "public, max-age=86400"
                return response
    abort(404)


# --- the officers' screens ---
@bp.get("/next")
@screen("next")
def next_voter():
    return render_template("next.html")


@bp.post("/next")
@screen("next")
def start():
    started = time.perf_counter()
    try:
        if request.form.get("source") == "card":
            view = station().polling.start_verification_from_card(g.principal)
        else:
            view = station().polling.start_verification(g.principal, request.form.get("cnic", "")[:32], source="typed")
    except StationError as exc:
        return render_template("next.html", problem=exc, cnic=request.form.get("cnic", "")[:32]), _status(exc)
    session["timing"] = round((time.perf_counter() - started) * 1000, 1)
    return redirect(url_for("ui.verify", session_id=view.id))


def _status(exc: StationError) -> int:

    for cls, status, _kind in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


@bp.get("/verify/<session_id>")
@screen("verify")
def verify(session_id: str):
    try:
        view = station().polling.get_verification(g.principal, session_id[:64])
    except StationError as exc:
        return error_page(_status(exc), str(exc))
    last = session.pop("last_attempt", None)
    if last and last.get("session") != view.id:
        last = None
    problem = session.pop("problem", None)
    return render_template("verify.html", v=view, last=last, problem=problem,
                           reasons=station().config.policy.exception_reasons)


@bp.post("/verify/<session_id>/<action>")
@screen("verify")
def act(session_id: str, action: str):
    s, p, sid = station(), g.principal, session_id[:64]
    try:
        if action == "fingerprint":
            finger = request.form.get("finger", "")[:32] or None  # one the roll does not hold is refused, never guessed
            view = s.polling.capture_fingerprint(p, sid, finger)
        elif action == "face":
            view = s.polling.capture_face(p, sid)
        elif action == "exception":
            view = s.polling.record_exception(p, sid, request.form.get("reason"), request.form.get("note", "")[:500] or None)
        elif action == "ballot":
            view = s.polling.issue_ballot(p, sid)
        else:
            abort(404)
    except StationError as exc:
        session["problem"] = {"status": _status(exc), "detail": str(exc), "action": action}
        return redirect(url_for("ui.verify", session_id=sid))
    if view.last_attempt is not None:
        a = view.last_attempt
        session["last_attempt"] = {"session": view.id, "modality": a.modality, "position": a.position,
                                   "attempt": a.attempt, "outcome": a.outcome, "score": round(a.score, 2),
                                   "threshold": a.threshold, "quality": a.quality, "reason": a.reason}
    return redirect(url_for("ui.verify", session_id=view.id))


@bp.get("/search")
@screen("search")
def search():
    q = request.args.get("q", "")[:100]
    results, problem = [], None
    if q.strip():
        try:
            results = station().roll.search(g.principal, q)
        except StationError as exc:
            problem = str(exc)
    return render_template("search.html", q=q, results=results, problem=problem)


@bp.get("/summary")
@screen("summary")
def summary():
    try:
        data = station().polling.day_summary(g.principal)
    except StationError as exc:  # keys locked: a page saying so (base.html's notice), not the API's JSON
        return error_page(_status(exc), str(exc))
    peak = max([row["total"] for row in data["by_hour"]] or [1])
    checkpoint = station().transparency.summary_checkpoint(g.principal)  # its QR code, for agents to photograph
    return render_template("summary.html", s=data, peak=peak, checkpoint=checkpoint)


# --- the station keys: unlocked when the poll opens (keys.protection = "passphrase") ---
@bp.get("/keys")
@screen("keys")
def keys():
    return render_template("keys.html", status=station().keys.status(g.principal), problem=session.pop("problem", None))


@bp.post("/keys")
@screen("keys")
def unlock_keys():
    try:
        station().keys.unlock(g.principal, request.form.get("passphrase", "")[:1024])
        flash("ok", _("The station keys are unlocked: the poll can open."))
    except StationError as exc:
        session["problem"] = {"status": _status(exc), "detail": str(exc)}
    return redirect(url_for("ui.keys"))


# --- technician ---
@bp.get("/technician")
@screen("technician")
def technician():
    result = session.pop("device_test", None)
    problem = session.pop("problem", None)
    locks = (lockouts(current_app.extensions["login_throttle"], g.principal, station().accounts)
             if g.principal.role in LOCKOUT_ROLES else None)
    return render_template("technician.html", devices=station().technician.screen_devices(g.principal), result=result,
                           problem=problem, faults=("timeout", "busy", "not_ready", "disconnect", "none"),
                           lockouts=locks, lockout_rows=lockout_rows(locks) if locks else (),
                           can_clear=g.principal.role in LOCKOUT_CLEAR_ROLES)


@dataclasses.dataclass(frozen=True)
class LockoutRow:
    """A row of the technician's lockouts table; ``clear``: the (field, value) its Clear button posts, or None."""

    entry: Lockout
    clear: tuple[str, str] | None


def lockout_rows(view: LockoutsView) -> list[LockoutRow]:
    """The view's entries, a Clear on each address's count and on the first row of each username shown (a username
    that is no account's is not shown: it locks out nobody)."""
    rows, named = [], set()
    for entry in view.entries:
        clear = None
        if entry.scope == "address":
            clear = ("address", entry.address)
        elif entry.username is not None and entry.username not in named:
            named.add(entry.username)
            clear = ("username", entry.username)
        rows.append(LockoutRow(entry, clear))
    return rows


@bp.post("/technician/lockouts/clear")
@screen("technician")
def technician_clear_lockout():
    username = request.form.get("username", "")[:MAX_USERNAME_CHARS].strip()
    address = request.form.get("address", "")[:MAX_ADDRESS_CHARS].strip()
    if bool(username) == bool(address):
        return error_page(400, _("Which username or address? Give one of them."))
    try:
        cleared = clear_lockout(current_app.extensions["login_throttle"], g.principal, username=username or None,
                                address=address or None)
    except NotPermitted as exc:
        return error_page(403, str(exc))
    if cleared.username is not None:
        flash("ok", _("Sign-in lockout cleared for %(username)s.", username=cleared.username) if cleared.cleared
              else _("No failed sign-ins were recorded for %(username)s: nothing to clear.",
                     username=cleared.username))
    else:
        flash("ok", _("Sign-in lockout cleared for the address %(address)s.", address=cleared.address)
              if cleared.cleared
              else _("No failed sign-ins were recorded from %(address)s: nothing to clear.", address=cleared.address))
    return redirect(url_for("ui.technician"))


def lockout_scope_label(scope: str | None) -> str:
    return {"username": _("this username, from every address"), "address": _("this address, every username"),
            "username_address": _("this username from this address"),
            "device": _("a signed-in device of this username")}.get(scope or "", scope or "")


@bp.post("/technician/test")
@screen("technician")
def technician_test():
    try:
        session["device_test"] = station().technician.screen_test(g.principal, request.form.get("kind"))
    except StationError as exc:
        session["problem"] = {"status": _status(exc), "detail": str(exc)}
    return redirect(url_for("ui.technician"))


@bp.post("/technician/fault")
@screen("technician")
def technician_fault():
    try:
        count = int(request.form.get("count", "1") or 1)
        g.principal.require(*FAULT_ROLES)
        station().steering.fault(g.principal, request.form.get("kind"), request.form.get("fault"), count)
        kind = kind_label(request.form.get("kind"))
        flash("ok", _("Fault scripted on the %(kind)s: the next capture will fail.", kind=kind)
              if request.form.get("fault") != "none" else _("Scripted faults cleared."))
    except ValueError:
        session["problem"] = {"status": 400, "detail": "count must be an integer"}
    except StationError as exc:
        session["problem"] = {"status": _status(exc), "detail": str(exc)}
    return redirect(url_for("ui.technician"))


# --- auditor ---
@bp.get("/audit")
@screen("audit")
def audit():
    s = station()
    chain = s.audit.verification(g.principal)
    after = max(0, chain["entries"] - 100)
    entries = [e["body"] for e in s.audit.entries(g.principal, after, 100)]
    return render_template("audit.html", chain=chain, entries=list(reversed(entries)))


# --- registration centre ---
_FIELD_AT_START = re.compile(r"^(%s)\b" % "|".join(sorted(DEMOGRAPHIC_FIELDS, key=len, reverse=True)))


def problem_field(exc: StationError) -> str | None:
    """The form field a registration error is about (its message names it), or None."""
    text = str(exc)
    if isinstance(exc, OpenRegistration):  # the CNIC is right: its registration is elsewhere (the form links to it)
        return None
    if isinstance(exc, InvalidCnic) or text.startswith("CNIC"):
        return "cnic"
    match = _FIELD_AT_START.match(text)
    if match:
        return match.group(1)
    if "polling station" in text:
        return "polling_station"
    return None


def _register_form(values: dict, problem: StationError | None = None, field: str | None = None):
    s = station()
    return render_template("register.html", values=values, problem=problem, field=field,
                           max_length=Demographics.max_length, stations=s.roll.polling_stations(g.principal),
                           default_station=s.config.station.polling_station)


@bp.get("/register")
@screen("register")
def register():
    return _register_form({})


@bp.post("/register")
@screen("register")
def register_start():
    form = request.form
    values = {name: form.get(name, "")[:200] for name in ("cnic", *DEMOGRAPHIC_FIELDS, "polling_station")}
    values["cnic"] = values["cnic"][:32]
    demographics = {name: values[name] for name in DEMOGRAPHIC_FIELDS}
    service = station().registration
    try:
        if form.get("source") == "card":
            view = service.start_from_card(g.principal, {k: values[k] for k in CARD_DETAIL_FIELDS},
                                           values["polling_station"] or None)
        else:
            view = service.start(g.principal, values["cnic"], demographics, values["polling_station"] or None)
    except StationError as exc:
        return _register_form(values, exc, problem_field(exc)), _status(exc)
    return redirect(url_for("ui.registration", session_id=view.id))


@bp.get("/register/<session_id>")
@screen("capture")
def registration(session_id: str):
    try:
        view = station().registration.get(g.principal, session_id[:64])
    except StationError as exc:
        return error_page(_status(exc), str(exc))
    last = session.pop("last_capture", None)
    if last and last.get("session") != view.id:
        last = None
    problem = session.pop("problem", None)
    config = station().config.enrollment
    return render_template("registration.html", v=view, last=last, problem=problem,
                           rows={c["position"]: c for c in view.captures}, reasons=config.exception_reasons,
                           min_quality=config.min_finger_quality)


@bp.post("/register/<session_id>/<action>")
@screen("capture")
def registration_act(session_id: str, action: str):
    service, p, sid = station().registration, g.principal, session_id[:64]
    position = None
    try:
        if action == "fingerprint":
            position = request.form.get("finger") or None
            view = service.capture_finger(p, sid, position)
            position = position or view.next_position
        elif action == "face":
            position = "face"
            view = service.capture_face(p, sid)
        elif action == "exception":
            position = request.form.get("position")
            view = service.record_exception(p, sid, position, request.form.get("reason"))
        elif action == "submit":
            view = service.submit(p, sid)
        elif action == "cancel":
            view = service.cancel(p, sid)
        else:
            abort(404)
    except StationError as exc:
        session["problem"] = {"status": _status(exc), "detail": str(exc), "action": action}
        return redirect(url_for("ui.registration", session_id=sid))
    if position is not None:
        session["last_capture"] = {"session": view.id, "position": position, "action": action}
    return redirect(url_for("ui.registration", session_id=view.id))


@bp.get("/adjudication")
@screen("adjudication")
def adjudication():
    return render_template("adjudication.html", queue=station().registration.queue(g.principal))


def _decision_page(session_id: str, problem: dict | None = None, note: str = ""):
    s = station()
    try:
        view = s.registration.get(g.principal, session_id)
    except StationError as exc:
        return error_page(_status(exc), str(exc))
    entries = s.roll.entries(g.principal, [c["cnic"] for c in view.candidates])
    # face evidence carries the distance its search used (for the roll's size); older evidence was searched at the 1:1 one
    return render_template("decide.html", v=view, entries=entries, problem=problem, note=note,
                           face_threshold=s.config.face.match_threshold), (problem or {}).get("status", 200)


@bp.get("/adjudication/<session_id>")
@screen("decide")
def decide(session_id: str):
    return _decision_page(session_id[:64])


@bp.post("/adjudication/<session_id>")
@screen("decide")
def decide_post(session_id: str):
    sid, note = session_id[:64], request.form.get("note", "")[:1000]
    decision = request.form.get("decision")
    try:
        view = station().registration.decide(g.principal, sid, decision, note)
    except StationError as exc:
        return _decision_page(sid, {"status": _status(exc), "detail": str(exc)}, note)
    flash("ok", _("Decision recorded for CNIC %(cnic)s: duplicate, the registration is refused.", cnic=view.cnic)
          if view.state == "DUPLICATE" else
          _("Decision recorded for CNIC %(cnic)s: not a duplicate, added to the roll as pending.", cnic=view.cnic))
    return redirect(url_for("ui.adjudication"))


@bp.get("/adjudication/<session_id>/photo/<position>")
@screen("decide")
def exception_photo(session_id: str, position: str):
    try:
        data = station().registration.exception_photo(g.principal, session_id[:64], position[:16])
    except StationError as exc:
        return error_page(_status(exc), str(exc))
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
