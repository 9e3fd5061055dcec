"""The registration centre's screens in-process: register (typed or card), capture, adjudication queue and decision.
Each screen renders for its roles and answers 403 to the others; every form post needs the CSRF token; errors are shown
next to the field they name; the officer never sees the duplicate candidates; the registrar compares, sees the
evidence and the exception photo, must write a note and may not decide on a registration of their own."""
from __future__ import annotations

import base64
import re

import cv2
import numpy as np
import pytest

from tests.support.stations import PASSWORDS, ROLL_SEED, add_users, build_station
from station.security.users import Principal

pytestmark = pytest.mark.slow

FINGERS = ["right_thumb", "left_index"]  # two fingers and the face keep the captures few
ROLES = {"officer": "polling_officer", "presiding": "presiding_officer", "tech": "technician", "auditor": "auditor",
         "regofficer": "registration_officer", "registrar": "registrar"}
USERS = {**PASSWORDS, "registrar2": ("registrar", "registrar2-test-pass")}
# Who may open what (written out here, then checked against api.ui.SCREENS so the two cannot drift apart).
ALLOWED = {"register": {"registration_officer", "registrar"}, "capture": {"registration_officer", "registrar"},
           "adjudication": {"registrar"}, "decide": {"registrar"}}
CNICS = iter(f"84{i:03d}-{i:07d}-3" for i in range(100, 1000))  # odd last digit: male


def person(**overrides) -> dict:
    return {"name_en": "Imran Khalid", "name_ur": "عمران خالد", "relation": "father",
            "relative_name_en": "Khalid Mehmood", "relative_name_ur": "خالد محمود", "gender": "male",
            "date_of_birth": "1984-03-21", "address_en": "Chattar Klass, Muzaffarabad", "address_ur": "چھتر کلاس",
            "census_block": "2231", "family_number": "17", **overrides}


def photo_base64(seed: int = 1) -> str:
    image = (np.random.default_rng(seed).random((240, 320, 3)) * 255).astype(np.uint8)
    return base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()


@pytest.fixture(scope="module")
def reg_station(tmp_path_factory, make_database_url):
    st = build_station(tmp_path_factory.mktemp("ui-registration"), make_database_url(),
                       enrollment={"fingers": FINGERS})
    st.init()
    st.synthesize_roll(8, ROLL_SEED)
    add_users(st, USERS)
    yield st
    st.close()


@pytest.fixture(scope="module")
def reg_app(reg_station):
    from api import create_app

    return create_app(reg_station)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def signed_in(app, username: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": USERS[username][1],
                                    "csrf_token": csrf_of(client.get("/").get_data(as_text=True))})
    assert r.status_code == 302
    return client


def token(client, path: str = "/register") -> str:
    return csrf_of(client.get(path).get_data(as_text=True))


def text(response) -> str:
    return response.get_data(as_text=True)


def form_of(cnic: str, **overrides) -> dict:
    return {"cnic": cnic, **person(**overrides), "polling_station": ""}


def start(client, data: dict, source: str = "typed"):
    return client.post("/register", data={**data, "source": source, "csrf_token": token(client)})


def register_person(station, client, username: str, who: str, *, submit: bool = True) -> str:
    """Through the screens, signed in as USERNAME: start, each finger of the simulated person WHO, a face exception
    with a photo, submit. Returns the capture page's path."""
    r = start(client, form_of(next(CNICS)))
    assert r.status_code == 302, text(r)[:2000]
    path = r.headers["Location"]
    csrf = token(client, path)
    principal = Principal(username, USERS[username][0])
    for finger in FINGERS:
        station.steering.present_person_finger(principal, who, finger)
        assert client.post(f"{path}/fingerprint", data={"csrf_token": csrf, "finger": finger}).status_code == 302
    station.steering.present_face(principal, image_base64=photo_base64())
    assert client.post(f"{path}/exception", data={"csrf_token": csrf, "position": "face",
                                                  "reason": "other"}).status_code == 302
    if submit:
        assert client.post(f"{path}/submit", data={"csrf_token": csrf}).status_code == 302
    return path


@pytest.fixture(scope="module")
def adjudicated_pair(reg_station, reg_app):
    """One person registered twice by the registration officer: (first capture page, second capture page)."""
    officer = signed_in(reg_app, "regofficer")
    return (register_person(reg_station, officer, "regofficer", "ui-twice"),
            register_person(reg_station, officer, "regofficer", "ui-twice"))


def test_the_ui_role_table_matches_the_expected_access():
    from api.ui import HOME, SCREENS

    assert {name: set(SCREENS[name]) for name in ALLOWED} == ALLOWED
    assert HOME["registration_officer"] == "ui.register" and HOME["registrar"] == "ui.adjudication"


def test_each_screen_opens_for_its_roles_and_is_403_for_the_others(reg_app, adjudicated_pair):
    sid = adjudicated_pair[1].rsplit("/", 1)[1]
    paths = {"register": "/register", "capture": f"/register/{sid}", "adjudication": "/adjudication",
             "decide": f"/adjudication/{sid}"}
    for username, role in ROLES.items():
        client = signed_in(reg_app, username)
        for screen, path in paths.items():
            r = client.get(path)
            expected = 200 if role in ALLOWED[screen] else 403
            assert r.status_code == expected, (username, path, r.status_code)
        photo = client.get(f"/adjudication/{sid}/photo/face")
        assert photo.status_code == (200 if role == "registrar" else 403), (username, photo.status_code)
        for screen, path in (("capture", "/register/no-such-registration"),
                             ("decide", "/adjudication/no-such-registration")):
            r = client.get(path)  # an unknown registration: a page saying so, to the screen's roles only
            assert r.status_code == (404 if role in ALLOWED[screen] else 403), (username, path, r.status_code)
    signed_out = reg_app.test_client()
    for path in paths.values():
        r = signed_out.get(path)
        assert r.status_code == 302 and r.headers["Location"].endswith("/")


def test_home_nav_and_role_label_per_role(reg_app):
    officer = signed_in(reg_app, "regofficer")
    assert officer.get("/").headers["Location"].endswith("/register")
    page = text(officer.get("/register"))
    assert 'id="nav-register"' in page and 'id="nav-adjudication"' not in page and 'id="nav-next"' not in page
    assert '<span id="role">Registration officer</span>' in page
    registrar = signed_in(reg_app, "registrar")
    assert registrar.get("/").headers["Location"].endswith("/adjudication")
    page = text(registrar.get("/adjudication"))
    assert 'id="nav-register"' in page and 'id="nav-adjudication"' in page
    assert '<span id="role">Registrar</span>' in page
    assert re.search(r'class="current" id="nav-adjudication" aria-current="page"', page)


def test_form_posts_need_the_csrf_token(reg_station, reg_app, adjudicated_pair):
    officer = signed_in(reg_app, "regofficer")
    cnic = next(CNICS)
    r = officer.post("/register", data={**form_of(cnic), "source": "typed"})
    assert r.status_code == 403 and "CSRF" in text(r)
    r = start(officer, form_of(cnic))
    assert r.status_code == 302, "with the token the same form starts the registration"
    path = r.headers["Location"]
    assert officer.post(f"{path}/fingerprint", data={"finger": FINGERS[0]}).status_code == 403
    assert officer.post(f"{path}/cancel", data={"csrf_token": "forged"}).status_code == 403
    page = text(officer.get(path))
    assert 'data-state="CAPTURING"' in page and 'data-status="not_captured"' in page, "nothing was captured"
    sid = adjudicated_pair[1].rsplit("/", 1)[1]
    registrar = signed_in(reg_app, "registrar")
    r = registrar.post(f"/adjudication/{sid}", data={"decision": "duplicate", "note": "same prints"})
    assert r.status_code == 403
    assert 'data-state="ADJUDICATION"' in text(registrar.get(f"/adjudication/{sid}"))


@pytest.mark.parametrize("cnic, overrides, field, message", [
    ("12345-123", {}, "cnic", "invalid CNIC"),
    (None, {"gender": "female"}, "gender", "gender female does not match the CNIC&#39;s gender digit"),
    (None, {"date_of_birth": "2020-01-01"}, "date_of_birth", "at least 18 years old"),
    (None, {"name_en": "  "}, "name_en", "name_en is required"),
    (None, {"polling_station": "PS-999"}, "polling_station", "unknown polling station"),
    (None, {"census_block": "C" * 17}, "census_block", "at most 16 characters"),
])
def test_a_bad_field_is_shown_inline_and_the_form_keeps_what_was_typed(reg_app, cnic, overrides, field, message):
    officer = signed_in(reg_app, "regofficer")
    data = {**form_of(cnic or next(CNICS)), **overrides}
    r = start(officer, data)
    assert r.status_code == 400
    page = text(r)
    error = re.search(rf'<p class="field-error" id="{field}-error" role="alert">([^<]*)</p>', page)
    assert error and message in error.group(1), page[:3000]
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page.replace("\n", " "))
    assert page.count('class="field-error"') == 1
    assert 'value="Khalid Mehmood"' in page and "عمران خالد" in page, "what was typed is kept"


def test_each_field_of_the_form_takes_no_more_than_the_roll_keeps(reg_app):
    page = text(signed_in(reg_app, "regofficer").get("/register")).replace("\n", " ")
    for field, limit in (("census_block", 16), ("family_number", 16), ("name_en", 200), ("address_en", 200)):
        assert re.search(rf'<input id="{field}"[^>]*maxlength="{limit}"', page), field


def test_a_cnic_already_on_the_roll_is_refused_at_the_cnic_field(reg_station, reg_app):
    voter = reg_station.roll.list_voters(limit=1)[0]
    officer = signed_in(reg_app, "regofficer")
    r = start(officer, form_of(voter.cnic, gender=voter.gender))
    assert r.status_code == 409
    assert re.search(r'id="cnic-error" role="alert">CNIC [\d-]+ is already registered', text(r))


def test_a_cnic_with_a_registration_in_progress_links_to_it(reg_app):
    """A registration left open (the browser closed, a power cut) blocks its CNIC: starting it again was refused under
    "Check this field: CNIC" with a bare registration id, and no screen led back to it. The refusal now says a
    registration is in progress and links to it, where it can be finished or cancelled, from any officer's browser."""
    cnic = next(CNICS)
    first = signed_in(reg_app, "regofficer")
    r = start(first, form_of(cnic))
    assert r.status_code == 302
    path = r.headers["Location"]
    again = start(signed_in(reg_app, "registrar"), form_of(cnic))  # another browser, another registration staff
    assert again.status_code == 409
    page = text(again)
    assert "Check this field" not in page and 'id="cnic-error"' not in page
    assert re.search(rf'<a href="{re.escape(path)}" id="open-registration">', page), page[:3000]
    assert "A registration is already in progress for this CNIC" in page


def test_read_cnic_card_takes_the_cnic_from_the_card(reg_station, reg_app):
    voter = reg_station.roll.list_voters(limit=1)[0]  # the test issuer makes cards for roll voters only
    reg_station.steering.insert_card(Principal("regofficer", "registration_officer"), voter.cnic)
    officer = signed_in(reg_app, "regofficer")
    r = start(officer, form_of("", name_en="", gender=""), source="card")
    assert r.status_code == 409
    assert f"CNIC {voter.cnic} is already registered" in text(r), "the card's CNIC, not the (empty) typed one"


def test_the_polling_station_select_lists_the_rolls_stations(reg_station, reg_app):

    stations = reg_station.roll.polling_stations(Principal("regofficer", "registration_officer"))
    own = reg_station.config.station.polling_station
    assert len(stations) >= 2 and stations[0]["code"] == own
    page = text(signed_in(reg_app, "regofficer").get("/register"))
    select = re.search(r'<select id="polling_station".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([^"]+)"', select) == [s["code"] for s in stations]
    assert re.search(rf'<option value="{own}" selected>', select)
    with pytest.raises(Exception, match="role"):
        reg_station.roll.polling_stations(Principal("officer", "polling_officer"))


def test_registration_to_enrolled_and_to_adjudication_without_showing_candidates(reg_station, reg_app,
                                                                                  adjudicated_pair):
    officer = signed_in(reg_app, "regofficer")
    first, second = (text(officer.get(path)) for path in adjudicated_pair)
    assert re.search(r'id="decision">ENROLLED<', first) and "pending" in first
    assert re.search(r'id="decision">SENT TO ADJUDICATION<', second)
    assert re.search(r'id="candidate-count">1 possible duplicate on the roll', second)
    first_cnic = re.search(r'<th>CNIC</th><td dir="ltr" class="mono">([\d-]+)<', first).group(1)
    assert first_cnic not in second, "the officer does not see who the candidate is"
    assert "Candidate" not in second and "evidence" not in second.lower()


def test_capture_page_lists_positions_and_a_device_problem_leaves_the_attempt_uncounted(reg_station, reg_app):
    officer = signed_in(reg_app, "regofficer")
    r = start(officer, form_of(next(CNICS)))
    path = r.headers["Location"]
    page = text(officer.get(path))
    for position in (*FINGERS, "face"):
        assert re.search(rf'<tr id="pos-{position}" class="status-not_captured[^"]*" data-status="not_captured">', page)
    assert re.search(r'id="instruction">Place the right thumb on the scanner<', page)
    assert re.search(r'id="attempts-left">3 attempts left<', page)
    tech = Principal("tech", "technician")
    reg_station.steering.fault(tech, "fingerprint", "timeout", 1)
    csrf = csrf_of(page)
    officer.post(f"{path}/fingerprint", data={"csrf_token": csrf, "finger": "right_thumb"})
    page = text(officer.get(path))
    assert "DEVICE PROBLEM" in page and re.search(r'id="attempts-left">3 attempts left<', page)
    reg_station.steering.present_person_finger(Principal("regofficer", "registration_officer"), "meter",
                                                       "right_thumb")
    officer.post(f"{path}/fingerprint", data={"csrf_token": csrf, "finger": "right_thumb"})
    page = text(officer.get(path))
    quality = re.search(r'id="last-capture".*?<meter [^>]*value="(\d+)"', page, re.S)
    assert quality and 'data-status="accepted"' in page
    assert re.search(r'id="instruction">Place the left index finger on the scanner<', page)
    officer.post(f"{path}/cancel", data={"csrf_token": csrf})
    assert re.search(r'id="decision">CANCELLED<', text(officer.get(path)))


def test_capture_page_when_the_attempts_are_used_up_asks_for_an_exception(reg_app):
    """The screen for a finger with no usable capture after every attempt (a state the simulated scanner reaches
    only with unreadable prints): the exception panel is open and its button focused."""
    import datetime as dt

    from flask import g, render_template

    from station.registration.service import EnrollmentView

    rows = [{"position": "right_thumb", "modality": "fingerprint", "status": "retry", "attempts": 3,
             "attempts_left": 0, "quality": 0, "feedback": "no usable print", "exception_reason": None,
             "has_exception_photo": False}]
    view = EnrollmentView(id="x", state="CAPTURING", cnic="84100-0000100-3", polling_station="PS-001",
                          operator="regofficer", demographics=person(), captures=rows, missing=["right_thumb"],
                          next_step="capture", next_position="right_thumb", message="", candidates_found=0, candidates=[],
                          decision=None, decided_by=None, decision_note=None, created_at=dt.datetime(2026, 1, 1))
    with reg_app.test_request_context("/register/x"):
        g.principal = Principal("regofficer", "registration_officer")
        page = render_template("registration.html", v=view, last=None, problem=None, rows={"right_thumb": rows[0]},
                               reasons=("amputated", "other"), min_quality=30)
    assert "no usable capture after all attempts" in page
    assert re.search(r'<details class="panel" id="exception-panel" open>', page)
    assert re.search(r'id="record-exception" autofocus', page) and 'id="capture-next"' not in page


def test_registrar_compares_sees_evidence_and_photo_then_decides_with_a_note(reg_station, reg_app, adjudicated_pair):
    first, second = adjudicated_pair
    sid = second.rsplit("/", 1)[1]
    registrar = signed_in(reg_app, "registrar")
    queue = text(registrar.get("/adjudication"))
    assert f'id="queue-{sid}"' in queue
    page = text(registrar.get(f"/adjudication/{sid}"))
    first_view = reg_station.registration.get(Principal("registrar", "registrar"), first.rsplit("/", 1)[1])
    candidate = re.search(r'<article class="candidate panel" id="candidate-1" data-cnic="([\d-]+)">(.*?)</article>',
                          page, re.S)
    assert candidate and candidate.group(1) == first_view.cnic
    body = candidate.group(2)
    assert re.search(r'class="roll-name">[^\n]*Imran Khalid', body) and "1984-03-21" in body
    assert re.search(r'class="roll-status">pending', body)
    evidence = re.findall(r'<tr class="finger-evidence"><td>([^<]+)</td><td>([^<]+)</td>\s*<td[^>]*>fingerprint score '
                          r'([\d.]+) \(threshold ([\d.]+)\)', body)
    assert {(probe, roll) for probe, roll, _, _ in evidence} >= {("right thumb", "right thumb")}
    assert all(float(score) >= float(threshold) for _, _, score, threshold in evidence)
    assert f'src="/adjudication/{sid}/photo/face"' in page
    photo = registrar.get(f"/adjudication/{sid}/photo/face")
    assert photo.mimetype == "image/jpeg" and photo.data.startswith(b"\xff\xd8")
    assert photo.headers["Cache-Control"] == "no-store"
    assert registrar.get(f"/adjudication/{sid}/photo/right_thumb").status_code == 404
    csrf = csrf_of(page)
    r = registrar.post(f"/adjudication/{sid}", data={"csrf_token": csrf, "decision": "duplicate", "note": "   "})
    assert r.status_code == 400 and "a note explaining the decision is required" in text(r)
    assert 'data-state="ADJUDICATION"' in text(r)
    r = registrar.post(f"/adjudication/{sid}", data={"csrf_token": csrf, "decision": "duplicate",
                                                     "note": "same right thumb as the earlier registration"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/adjudication")
    queue = text(registrar.get("/adjudication"))
    assert "duplicate, the registration is refused" in queue and f'id="queue-{sid}"' not in queue
    officer = signed_in(reg_app, "regofficer")
    assert re.search(r'id="decision">REFUSED: DUPLICATE<', text(officer.get(second)))


def test_a_registrar_may_not_decide_on_their_own_registration(reg_station, reg_app):
    registrar = signed_in(reg_app, "registrar2")
    register_person(reg_station, registrar, "registrar2", "ui-own")
    second = register_person(reg_station, registrar, "registrar2", "ui-own")
    sid = second.rsplit("/", 1)[1]
    page = text(registrar.get(f"/adjudication/{sid}"))
    r = registrar.post(f"/adjudication/{sid}", data={"csrf_token": csrf_of(page), "decision": "not_duplicate",
                                                     "note": "my own check"})
    assert r.status_code == 409
    assert "must not be the officer who registered this person" in text(r)
    assert "The decision was refused" in text(r) and 'data-state="ADJUDICATION"' in text(r)
    other = signed_in(reg_app, "registrar")
    r = other.post(f"/adjudication/{sid}", data={"csrf_token": token(other, f"/adjudication/{sid}"),
                                                 "decision": "not_duplicate", "note": "twins, documents checked"})
    assert r.status_code == 302


def test_the_screens_in_urdu_are_right_to_left_with_left_to_right_numbers(reg_app, adjudicated_pair):
    officer = signed_in(reg_app, "regofficer")
    page = text(officer.get("/register?lang=ur"))
    assert '<html lang="ur" dir="rtl">' in page and "رجسٹریشن" in page
    assert re.search(r'<input id="cnic"[^>]*dir="ltr"', page)
    assert re.search(r'<span id="role">رجسٹریشن افسر</span>', page)
    page = text(officer.get(adjudicated_pair[0]))
    assert '<html lang="ur" dir="rtl">' in page and re.search(r'id="decision">اندراج ہو گیا<', page)
    assert re.search(r'<td dir="ltr" class="mono">[\d-]{15}</td>', page)


def test_every_ui_string_has_an_urdu_translation():
    """Every message the templates and api/ui.py use is in the Urdu catalogue, translated (the catalogue test in
    test_ui_pages checks the catalogue alone; this one checks it against the code)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from api.i18n import SOURCE

    with (SOURCE / "ur" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    root = SOURCE.parent
    methods = [("templates/**.html", "jinja2"), ("ui.py", "python")]
    missing = []
    for filename, _lineno, message, _comments, _context in extract_from_dir(str(root), method_map=methods):
        msgid = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(msgid)
        translated = entry is not None and (all(entry.string) if isinstance(entry.string, tuple) else entry.string)
        if not translated:
            missing.append(f"{filename}: {msgid}")
    assert not missing, "\n".join(missing)
