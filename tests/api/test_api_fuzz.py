"""schemathesis against /api/openapi.json: every operation, positive and negative examples, bounded and
deterministic (hypothesis derandomised). No 5xx and no response outside the document is allowed. It runs on a station
of its own (a tiny roll), because fuzzed requests issue ballots and script device faults."""
import pytest
import schemathesis  # a test dependency (pyproject.toml): missing, the module fails
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from tests.support.stations import PASSWORDS, build_station

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12


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


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, make_database_url):
    from api import create_app

    st = build_station(tmp_path_factory.mktemp("fuzz-home"), make_database_url())
    st.init()
    st.synthesize_roll(4, 11, workers=1)
    for username, (role, password) in PASSWORDS.items():
        st.accounts.add_user(username, password, role)
    app = create_app(st)
    yield app
    st.close()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_the_document_lists_every_api_route(fuzz_app, fuzz_schema):
    import re

    routes = {re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", r.rule)
              for r in fuzz_app.url_map.iter_rules() if r.rule.startswith("/api/")}
    document = fuzz_app.test_client().get("/api/openapi.json").json
    assert document["openapi"].startswith("3.") and set(document["paths"]) == routes
    assert {op.path for op in _operations(fuzz_schema)} == routes - {"/api/openapi.json"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("who", ["presiding", "tech"])
def test_no_server_error_and_no_undocumented_response(fuzz_app, fuzz_schema, mode, who):
    client = fuzz_app.test_client()
    token = client.post("/api/auth/login", json={"username": who, "password": PASSWORDS[who][1]}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    failures = []
    for operation in _operations(fuzz_schema):
        if operation.path in ("/api/auth/login", "/api/auth/logout"):
            continue  # login: its own test below (failed logins would lock the users out); logout would end the token

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing to negate in an operation without input
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_login_is_fuzzed_without_server_errors(fuzz_app, fuzz_schema):
    operation = next(op for op in _operations(fuzz_schema) if op.path == "/api/auth/login")
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            pass
