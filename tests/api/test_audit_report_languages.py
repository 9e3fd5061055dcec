"""GET /api/audit/report in English or Urdu: ?lang=, else the UI session's language or Accept-Language; the audit
screen links the report in the page's language; the OpenAPI document declares the parameter."""
import re

from tests.support.stations import PASSWORDS

URDU_PAGE = '<html lang="ur" dir="rtl">'
ENGLISH_PAGE = '<html lang="en" dir="ltr">'


def _get(app, token=None, **kw):
    client = app.test_client()  # a cookie jar of its own: ?lang= is remembered in the session
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/api/audit/report", headers={**headers, **kw.pop("headers", {})}, **kw)


def test_the_report_in_the_language_asked_for(app, tokens):
    urdu = _get(app, tokens["auditor"], query_string={"lang": "ur"})
    page = urdu.get_data(as_text=True)
    assert urdu.status_code == 200 and urdu.mimetype == "text/html" and URDU_PAGE in page
    assert "میچ لاگ کا آڈٹ" in page and "data:font/ttf;base64," in page
    assert "font-src data:" in urdu.headers["Content-Security-Policy"]  # else the browser drops the embedded face
    assert "script-src" not in urdu.headers["Content-Security-Policy"]  # default-src 'none': still no scripts
    english = _get(app, tokens["auditor"], query_string={"lang": "en"},
                   headers={"Accept-Language": "ur-PK,ur;q=0.9"}).get_data(as_text=True)
    assert ENGLISH_PAGE in english and "Match log audit" in english  # ?lang= wins over the browser's choice
    bad = _get(app, tokens["auditor"], query_string={"lang": "fr"})
    assert _get(app, tokens["auditor"], query_string={"lang": ""}).status_code == 400
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json" and "en, ur" in bad.json["detail"]
    assert _get(app, tokens["officer"], query_string={"lang": "ur"}).status_code == 403


def test_without_lang_the_callers_language(app, tokens):
    plain = _get(app, tokens["auditor"])
    assert ENGLISH_PAGE in plain.get_data(as_text=True)  # an API client that says nothing: English
    browser = _get(app, tokens["auditor"], headers={"Accept-Language": "ur-PK,ur;q=0.9,en;q=0.8"})
    assert URDU_PAGE in browser.get_data(as_text=True) and "Accept-Language" in browser.headers["Vary"]


def _ui_login(client, username):
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORDS[username][1], "csrf_token": csrf})
    assert r.status_code == 302


def test_the_audit_screen_links_the_report_in_its_language(app):
    client = app.test_client()
    _ui_login(client, "auditor")
    screen = client.get("/audit?lang=ur").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)" id="report-link"', screen).group(1)
    assert link == "/api/audit/report?lang=ur"
    assert URDU_PAGE in client.get(link).get_data(as_text=True)  # the browser session, no bearer token
    assert URDU_PAGE in client.get("/api/audit/report").get_data(as_text=True)  # the session's language
    client.get("/audit?lang=en")
    assert ENGLISH_PAGE in client.get("/api/audit/report").get_data(as_text=True)


def test_the_openapi_document_declares_lang(client):
    operation = client.get("/api/openapi.json").json["paths"]["/api/audit/report"]["get"]
    (param,) = [p for p in operation["parameters"] if p["name"] == "lang"]
    assert param["in"] == "query" and not param["required"] and param["schema"]["enum"] == ["en", "ur"]
    assert "400" in operation["responses"]
