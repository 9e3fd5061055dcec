"""schemathesis against /api/openapi.json: every role of the station, each on every operation it may call, at least
MAX_EXAMPLES examples per operation in the positive and the negative generation modes, bounded and deterministic
(hypothesis derandomised). No 5xx and no response outside the document is allowed. The operations a role may not call
get DENIED_EXAMPLES examples each and must answer 403 problem+json (401 without a token), never anything else.

Which role may call what comes from the README's table (tests/support/api_roles.py), never from the code under test.

Each role runs on a station of its own (a tiny roll), because fuzzed requests issue ballots, adjudicate, script device
faults and pull the virtual card out: one role's run cannot use up another's voters, registrations or devices. So
that the handlers are reached past their 404, about half the examples name something that exists: the path's
verification or registration id, CNIC, device kind or position, and the body's CNIC, device kind or fault are
replaced by live values of that station (verifications of voters on and off this station's roll, a registration
being captured, one waiting for adjudication with an exception photo).

make test runs it on SQLite only (sqlite_pass_only: its PostgreSQL pass would take as long again, and what that
pass is for - the dialect - is sent there deliberately: test_hostile_inputs.py puts NUL, which PostgreSQL's text
refuses, into the text fields, and test_api_roles.py calls every operation as every role). Run by hand on PostgreSQL
(STATION_TEST_DATABASE_URL), it sends MAX_EXAMPLES 10 instead of 25 and DENIED_EXAMPLES 2 instead of 3: the
handlers, the validation and the roles do not change with the database; the live values still plant U+0000."""
from __future__ import annotations

import base64
import os
from collections import Counter

import cv2
import numpy as np
import pytest
import schemathesis  # a test dependency (pyproject.toml): missing, the module fails
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_headers_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.support.api_roles import PUBLIC, USERS, roles_allowed
from tests.support.stations import PASSWORDS, add_users, build_station, roll_templates_file

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_pass_only(
    "the fuzzer against the document; the text PostgreSQL refuses (U+0000) is sent on both databases by "
    "tests/api/test_hostile_inputs.py, every operation and role on PostgreSQL by tests/api/test_api_roles.py")]

# on PostgreSQL (STATION_TEST_DATABASE_URL names a server; make test's PostgreSQL pass leaves this module out) it
# runs fewer examples: see the docstring
ON_POSTGRESQL = bool(os.environ.get("STATION_TEST_DATABASE_URL"))
MAX_EXAMPLES = 10 if ON_POSTGRESQL else 25  # per allowed operation, per generation mode
DENIED_EXAMPLES = 2 if ON_POSTGRESQL else 3  # per operation a role may not call, per generation mode: sees the 403
ROLL = (6, 4)  # voters, seed: three on this station's roll (PS-001), three on another station's
ENROLLED_FINGERS = ["right_thumb", "left_index"]  # few captures to build the live registrations
# a hostile value beside the live ones: PostgreSQL's text cannot hold U+0000 (SQLite's can); hypothesis seldom draws it
NUL_TEXT = "12345-1234567-1\x00"
NOT_FUZZED_WITH_A_TOKEN = {("post", "/api/auth/login"),  # its own test below (failed logins lock users out)
                           ("post", "/api/auth/logout")}  # would end the token the rest of the run uses


@schemathesis.check
def no_server_error(ctx, response, case):
    """Like schemathesis' not_a_server_error, except the documented device-fault answer: 503 problem+json of type
    device-unavailable, which the fuzzer provokes itself (it scripts faults and pulls the virtual card out)."""
    if response.status_code >= 500:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 503 and body.get("type") == "about:blank#device-unavailable":
            return True
        raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")
    return True


CHECKS = [no_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def _refused_with(status: int):
    @schemathesis.check
    def refused(ctx, response, case):
        """A role outside the operation's roles (or no token) is refused before anything is parsed."""
        assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:300]}"
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/problem+json"), content_type
        return True

    refused.__name__ = f"refused_with_{status}"
    return refused


REFUSED = {401: [_refused_with(401), *CHECKS], 403: [_refused_with(403), *CHECKS]}


def _photo_base64() -> str:
    image = (np.random.default_rng(1).random((240, 320, 3)) * 255).astype(np.uint8)
    return base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()


def _person(gender: str = "male") -> dict:
    return {"name_en": "Fuzz Person", "relation": "father", "relative_name_en": "Fuzz Father", "gender": gender,
            "date_of_birth": "1984-03-21", "address_en": "Chattar Klass, Muzaffarabad"}


def _new_station(home, database_url):
    st = build_station(home, database_url, enrollment={"fingers": ENROLLED_FINGERS})
    st.init()
    st.synthesize_roll(*ROLL, workers=1, templates_file=roll_templates_file(st, *ROLL))
    add_users(st, PASSWORDS)
    return st


def _login(client, who: str) -> dict:
    r = client.post("/api/auth/login", json={"username": who, "password": PASSWORDS[who][1]})
    assert r.status_code == 200, r.get_data(as_text=True)
    return {"Authorization": f"Bearer {r.json['token']}"}


def _ok(r, status: int = 200) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    return r.json


def _registration(client, auth: dict, cnic: str, person: str | None, *, submit: bool) -> str:
    """A registration through the API: started; with PERSON, each finger of that simulated person captured and a
    face exception with a photo; submitted when asked."""
    reg = _ok(client.post("/api/registrations", json={"cnic": cnic, "demographics": _person()}, headers=auth), 201)
    if person is None:
        return reg["id"]
    while reg["next_step"] == "capture" and reg["next_position"] in ENROLLED_FINGERS:
        finger = reg["next_position"]
        _ok(client.post("/api/sim/fingerprint", json={"person": person, "finger": finger}, headers=auth))
        reg = _ok(client.post(f"/api/registrations/{reg['id']}/fingerprint", json={"finger": finger}, headers=auth))
    _ok(client.post("/api/sim/face", json={"image": _photo_base64()}, headers=auth))
    reg = _ok(client.post(f"/api/registrations/{reg['id']}/exception", json={"position": "face", "reason": "other"},
                          headers=auth))
    if submit:
        reg = _ok(client.post(f"/api/registrations/{reg['id']}/submit", headers=auth))
    return reg["id"]


def _live_values(st, app, who: str) -> dict[str, list[str]]:
    """Values that name something on WHO's station, by the path or body field they go into."""
    client = app.test_client()
    voters = st.roll.list_voters()
    here = [v.cnic for v in voters if v.polling_station == st.config.station.polling_station]
    assert here and len(here) < len(voters), "the fuzz roll has voters on this station's roll and on another's"
    live = {"cnic": [*(v.cnic for v in voters), NUL_TEXT], "kind": ["fingerprint", "camera", "card"],
            "position": ["face", *ENROLLED_FINGERS], "fault": ["none", "busy", "timeout", "card_removed"],
            "reason": [*st.config.policy.exception_reasons, *st.config.enrollment.exception_reasons],
            "image": [_photo_base64()], "person": ["fuzz-twice", "fuzz-other"], "tamper": ["bad-signature", "clone"],
            "quality": ["normal", "dry", "worn", "partial"]}
    role = USERS[who]
    sessions = []
    if role in roles_allowed("POST", "/api/verifications"):
        auth = _login(client, who)
        sessions += [_ok(client.post("/api/verifications", json={"cnic": cnic}, headers=auth), 201)["id"]
                     for cnic in [*here[:2], voters[-1].cnic]]
    if role in roles_allowed("POST", "/api/registrations"):
        auth = _login(client, who)
        cnics = iter(f"84{i:03d}-{i:07d}-3" for i in range(100, 1000))  # odd last digit: male, not on the roll
        sessions += [_registration(client, auth, next(cnics), None, submit=False) for _ in range(2)]
        if role in roles_allowed("POST", "/api/adjudications/{id}"):
            # one person registered twice: the second registration waits for the registrar
            _registration(client, auth, next(cnics), "fuzz-twice", submit=True)
            second = _registration(client, auth, next(cnics), "fuzz-twice", submit=True)
            assert _ok(client.get(f"/api/registrations/{second}", headers=auth))["state"] == "ADJUDICATION"
            sessions.append(second)
    live["session_id"] = [*sessions, NUL_TEXT]
    return live


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, make_database_url):
    """The station of the whole-document and login tests."""
    from api import create_app

    st = _new_station(tmp_path_factory.mktemp("fuzz-home"), make_database_url())
    yield create_app(st)
    st.close()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


@pytest.fixture(scope="module", params=list(USERS))
def role_run(request, tmp_path_factory, make_database_url):
    """A station of this role's own, its schema, the role's token and the station's live values."""
    from api import create_app

    who = request.param
    st = _new_station(tmp_path_factory.mktemp(f"fuzz-{who}"), make_database_url())
    app = create_app(st)
    live = _live_values(st, app, who)
    yield st, who, schemathesis.openapi.from_wsgi("/api/openapi.json", app), _login(app.test_client(), who), live
    st.close()


def _clear_scripted_faults(st) -> None:
    """The positive run's scripted faults (up to 100 failing captures each) would answer the negative run's captures
    with 503 before they reach the handlers."""
    from station.security.users import Principal

    for kind in ("fingerprint", "camera", "card"):
        st.steering.fault(Principal("fuzz-reset", "technician"), kind, "none")


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def _last_the_operations_that_end_a_session(operations):
    """Ballot, submit, cancel and the adjudication end a verification or registration: fuzzed first, they would
    leave the live sessions closed to every other operation (409)."""
    def ends(op) -> bool:
        return op.path.endswith(("/ballot", "/submit", "/cancel")) or op.path.startswith("/api/adjudications/")

    return sorted(operations, key=ends)


def _input_names(operation) -> set[str]:
    """The names of the operation's parameters and of its JSON body's properties, from the document."""
    raw = operation.definition.raw
    names = {parameter["name"] for parameter in raw.get("parameters", [])}
    for content in raw.get("requestBody", {}).get("content", {}).values():
        names |= set(content.get("schema", {}).get("properties", {}))
    return names


def _fuzz(operation, mode, *, headers, checks, examples, live, calls: Counter) -> None:
    """Fuzz one operation; each example has its path parameters and body fields replaced, one by one and most of the
    time, by a live value of the same name. A negative example left as generated must also be refused (4xx)."""
    names = sorted(set(live) & _input_names(operation))
    swaps = st.fixed_dictionaries({name: st.sampled_from([None, *live[name]]) for name in names})

    @given(case=operation.as_strategy(generation_mode=mode), swap=swaps)
    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    def run(case, swap):
        swapped = False
        for name, value in swap.items():
            if value is None:
                continue
            if case.path_parameters and name in case.path_parameters:
                case.path_parameters[name], swapped = value, True
            if isinstance(case.body, dict) and name in case.body:
                case.body[name], swapped = value, True
        calls[operation.label] += 1
        negative = mode == GenerationMode.NEGATIVE and not swapped and checks is CHECKS
        case.call_and_validate(headers=headers, checks=[*checks, negative_data_rejection] if negative else checks)

    run()


def test_the_document_lists_every_api_route(fuzz_app, fuzz_schema):
    import re

    routes = {re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", r.rule)
              for r in fuzz_app.url_map.iter_rules() if r.rule.startswith("/api/")}
    document = fuzz_app.test_client().get("/api/openapi.json").json
    assert document["openapi"].startswith("3.") and set(document["paths"]) == routes
    assert {op.path for op in _operations(fuzz_schema)} == routes - {"/api/openapi.json"}
    # every operation the fuzzer sees is in the README's table (KeyError otherwise)
    for op in _operations(fuzz_schema):
        roles_allowed(op.method, op.path)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_every_role_on_every_operation(role_run, mode):
    """WHO on each operation: MAX_EXAMPLES examples where the README's table allows the role (no 5xx, nothing
    outside the document), DENIED_EXAMPLES where it does not (403 problem+json and nothing else)."""
    st, who, schema, headers, live = role_run
    _clear_scripted_faults(st)
    failures, calls, allowed = [], Counter(), set()
    for operation in _last_the_operations_that_end_a_session(_operations(schema)):
        if (operation.method.lower(), operation.path) in NOT_FUZZED_WITH_A_TOKEN:
            continue
        roles = roles_allowed(operation.method, operation.path)
        if roles == PUBLIC or USERS[who] in roles:
            allowed.add(operation.label)
            checks, examples = CHECKS, MAX_EXAMPLES
        else:
            checks, examples = REFUSED[403], DENIED_EXAMPLES
        try:
            _fuzz(operation, mode, headers=headers, checks=checks, examples=examples, live=live, calls=calls)
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing to negate in an operation without input
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, f"{who} ({USERS[who]}), {mode.value}:\n" + "\n\n".join(failures)
    # the role's run really fuzzed: every allowed operation with an input got its examples (hypothesis stops early
    # only on an operation without input, where there is nothing more to generate)
    if mode == GenerationMode.POSITIVE:
        with_input = {op.label for op in _operations(schema) if op.label in allowed and _input_names(op)}
        short = {label: calls[label] for label in with_input if calls[label] < MAX_EXAMPLES}
        assert not short, f"operations fuzzed with fewer than {MAX_EXAMPLES} examples: {short}"


def test_without_a_token_every_protected_operation_is_401(fuzz_app, fuzz_schema):
    failures, calls = [], Counter()
    for operation in _operations(fuzz_schema):
        if roles_allowed(operation.method, operation.path) == PUBLIC:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, headers={}, checks=REFUSED[401], examples=DENIED_EXAMPLES, live={},
                      calls=calls)
            except Unsatisfiable:
                pass
            except Exception as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


def test_login_is_fuzzed_without_server_errors(fuzz_app, fuzz_schema):
    operation = next(op for op in _operations(fuzz_schema) if op.path == "/api/auth/login")
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            pass
