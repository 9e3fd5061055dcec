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
# The tests that touch the database run a second time on a private PostgreSQL server: every test whose fixtures make
# a database (they reach make_database_url in tests/conftest.py: the station fixtures, the central database, the
# servers, the command line run on a station), chosen at collection (STATION_TEST_DATABASE_ONLY=1), so that a new test
# file joins by itself; left out are a test marked sqlite_only (test_store.py's check of SQLite's WAL mode) and those
# marked sqlite_pass_only(why), whose subject is not the database (the browser, the API fuzzer, the authority's link:
# the marker names the tests that run their database work on PostgreSQL). The command-line tests run on the pass's
# database too (tests/support/cli.py database_env); test_bad_input.py's home is never initialised and makes no
# database. What the first pass computes and the second would only repeat is kept in .pytest_cache, under names that
# hash the code and packages deciding it: the test rolls' fingerprint references (tests/support/stations.py
# roll_templates_file; the rolls share one seed), and the fingerprint work of the 1:N registration test
# (test_registration_dedup.py): its captures' masters, templates and qualities and its search's 1:1 scores, looked
# up by their exact inputs (tests/support/fingerprint_cache.py), so that this pass repeats its database work,
# candidate search, decisions and faces. The slowest tests of each pass are listed at the end. Both passes together
# must stay well inside CI's 30 minutes on a 2-core machine.
DB_TESTS ?= tests

.PHONY: install demo test quick bench deb clean

install:
	bash scripts/install.sh

demo: install
	$(VENV)/bin/station --profile simulated --home $(HOME_DIR) demo --voters 500 --seed 7 --port $(PORT) $(if $(FACES),--faces $(FACES))

test:
	bash scripts/install.sh --test
	$(PYTEST) -n 2 -q --durations=25 $(PYTEST_ARGS)
	STATION_TEST_DATABASE_ONLY=1 bash scripts/with-postgres.sh $(PYTEST) -n 2 -q --durations=15 $(DB_TESTS)

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
