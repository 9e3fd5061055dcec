# The two commands of the README. Both install everything first (Debian packages, a virtual environment, pip).
VENV   ?= .venv
PYTEST ?= $(VENV)/bin/python -m pytest
# make test installs pcscd, vpcd, chromium and the test packages, and ../shared holds the data sets: every test must
# run. A missing component or data set fails its tests, and so does any skip but a declared one (tests marked
# needs_root, when not root); the reasons are listed at the end (-ra in pyproject.toml). tests/support/require.py.
# (It replaces STATION_REQUIRE_PCSC=1 and STATION_REQUIRE_BROWSER=1, which the tests still honour.)
export STATION_REQUIRE_ALL = 1
HOME_DIR ?= demo-home
PORT   ?= 8080
# The tests that touch the database run a second time on a private PostgreSQL server: the store, the flows, the
# central side and every attack test (the schemathesis run, 3 minutes, is left to SQLite: its one PostgreSQL-only
# finding, NUL in text, is planted in test_hostile_inputs.py). The slowest tests are listed at the end of each pass.
DB_TESTS ?= tests/station/db/test_store.py tests/station/polling/test_verification_flow.py tests/api/test_api.py tests/acceptance/test_server_acceptance.py \
            tests/station/registration/test_registration.py tests/station/packages/test_roll_package.py tests/station/central/test_sync_central.py tests/station/backup/test_backup.py \
            tests/station/central/test_central_scale.py tests/station/central/test_central_migrations.py \
            tests/station/authority/test_authority.py tests/station/registration/test_registration_transfer.py \
            tests/station/service/test_install.py::test_serve_refuses_plain_http_on_a_lan_address \
            tests/station/service/test_install.py::test_init_creates_the_ca_and_export_ca_writes_it \
            tests/station/service/test_install.py::test_https_server_answers_health_with_a_certificate_chaining_to_the_station_ca \
            tests/station/service/test_install.py::test_station_serve_over_https_and_stops_cleanly_on_sigterm \
            tests/station/audit/test_log_rows.py tests/station/audit/test_merkle_attacks.py tests/station/audit/test_merkle_station.py \
            tests/station/audit/test_audit.py tests/station/audit/test_merkle_cli.py tests/station/polling/test_close_of_poll.py \
            tests/station/security/test_revocation.py tests/station/security/test_login_attacks.py tests/api/test_auth_sessions.py \
            tests/api/test_hostile_inputs.py tests/api/test_api_roles.py tests/api/test_ui_pages.py \
            tests/station/packages/test_revocation_packages.py tests/station/registration/test_revocation_admit.py

.PHONY: install demo test quick bench deb clean

install:
	bash scripts/install.sh

demo: install
	$(VENV)/bin/station --profile simulated --home $(HOME_DIR) demo --voters 500 --seed 7 --port $(PORT) $(if $(FACES),--faces $(FACES))

test:
	bash scripts/install.sh --test
	$(PYTEST) -n 2 -q --durations=25 $(PYTEST_ARGS)
	bash scripts/with-postgres.sh $(PYTEST) -n 2 -q --durations=15 $(DB_TESTS)

# The quick loop while working: everything but the tests marked slow (servers, browser, pcscd, big data sets).
quick:
	bash scripts/install.sh --test
	$(PYTEST) -n 2 -q -m "not slow" $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/station bench flow --voters 200 --json

deb:
	bash packaging/build-deb.sh

clean:
	rm -rf $(VENV) $(HOME_DIR) .pytest_cache dist
