"""No silent skips (tests/support/require.py): a pytest of its own, in a subprocess, on a small test file that skips
in every way there is. With STATION_REQUIRE_ALL=1 (as `make test` sets) every skip but a declared one fails, and a
missing requirement fails naming what is missing and how to install it; without the flag (a developer's run) they are
skipped; a test marked needs_root is skipped when not root - with or without the flag - and runs as root."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.support.paths import REPO

SAMPLE = '''
import os

import pytest

from tests.support.require import require, require_module, require_path


@pytest.fixture
def component():
    require(False, "the component of a fixture", "apt-get install component")


def test_bare_skip():
    pytest.skip("a reason nobody reads")


@pytest.mark.skipif(True, reason="a skipif condition")
def test_skipif():
    pass


def test_require_missing():
    require(lambda: False, "the frobnicator", "apt-get install frobnicator")


def test_require_module_missing():
    require_module("no_such_module_of_station_tests", "pip install no-such-module")


def test_require_path_missing(tmp_path):
    require_path(tmp_path / "absent-data-set", "copy it beside the repository")


def test_legacy_flag():
    require(False, "pcscd", "apt-get install pcscd", legacy="STATION_REQUIRE_PCSC")


def test_fixture_requirement(component):
    pass


def test_requirements_present(tmp_path):
    require(True, "nothing", "nothing")
    assert require_path(tmp_path) == tmp_path
    assert require_module("json").dumps(1) == "1"


@pytest.mark.needs_root("it changes the machine")
def test_root_only():
    assert os.geteuid() == 0


@pytest.mark.xfail(reason="a known defect", strict=True)
def test_expected_failure():
    assert False


def test_passes():
    pass
'''

MODULE_SKIP = '''
import pytest

pytest.importorskip("no_such_module_of_station_tests")


def test_never_collected():
    pass
'''

# the process under test is told it runs as the given user (the tests may well run as root)
CONFTEST = '''
import os

os.geteuid = lambda: int(os.environ["FAKE_EUID"])
'''

INI = '''[pytest]
markers =
    needs_root(why): skipped unless root
'''


def run(tmp_path: Path, *args: str, euid: int, **flags: str) -> tuple[dict[str, tuple[str, str]], str]:
    """pytest on the sample files; {test name: (outcome, message and text)} from its JUnit XML, and its output."""
    for name, text in (("test_sample.py", SAMPLE), ("test_module_skip.py", MODULE_SKIP), ("conftest.py", CONFTEST),
                       ("pytest.ini", INI)):
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "STATION_REQUIRE"))}
    env.update(flags, FAKE_EUID=str(euid), PYTHONPATH=str(REPO), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    xml = tmp_path / "report.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.support.require", "-p", "no:cacheprovider",
                           "--continue-on-collection-errors", f"--junitxml={xml}", "-rA", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    results = {}
    for case in ET.parse(xml).iter("testcase"):
        outcome, detail = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome, detail = child.tag, f"{child.get('message', '')} {child.text or ''}"
        results[case.get("name")] = (outcome, detail)
    return results, done.stdout + done.stderr


def test_under_the_flag_every_undeclared_skip_fails(tmp_path):
    results, output = run(tmp_path, euid=1000, STATION_REQUIRE_ALL="1")
    failed = {"failure", "error"}
    assert results["test_bare_skip"][0] in failed and "a reason nobody reads" in results["test_bare_skip"][1]
    assert results["test_skipif"][0] in failed and "a skipif condition" in results["test_skipif"][1]
    assert results["test_module_skip"][0] in failed, output  # a module-level importorskip
    assert "no_such_module_of_station_tests" in results["test_module_skip"][1]
    # a missing requirement fails with one line: what is missing and how to install it
    outcome, detail = results["test_require_missing"]
    assert outcome in failed and "STATION_REQUIRE_ALL=1 but the frobnicator is missing: apt-get install frobnicator" \
        in detail
    assert results["test_require_module_missing"][0] in failed
    assert "no_such_module_of_station_tests is missing: pip install no-such-module" \
        in results["test_require_module_missing"][1]
    assert results["test_require_path_missing"][0] in failed
    assert "absent-data-set is missing: copy it beside the repository" in results["test_require_path_missing"][1]
    assert results["test_fixture_requirement"][0] in failed
    assert "the component of a fixture is missing" in results["test_fixture_requirement"][1]
    # the declared skip stays a skip, with its reason; everything else runs as before
    assert results["test_root_only"][0] == "skipped" and "needs root: it changes the machine" in \
        results["test_root_only"][1]
    assert results["test_expected_failure"][0] == "skipped"  # xfail: JUnit's skipped, not a failure
    assert results["test_requirements_present"][0] == results["test_passes"][0] == "passed"
    assert "skipped 1: 1 declared (needs_root: not running as root), 0 other" in output


def test_without_the_flag_a_developer_run_skips_and_says_why(tmp_path):
    results, output = run(tmp_path, euid=1000, STATION_REQUIRE_PCSC="1")
    for name in ("test_bare_skip", "test_skipif", "test_module_skip", "test_require_module_missing",
                 "test_require_path_missing", "test_fixture_requirement", "test_root_only"):
        assert results[name][0] == "skipped", (name, results[name], output)
    outcome, detail = results["test_require_missing"]
    assert outcome == "skipped" and "the frobnicator is missing (apt-get install frobnicator)" in detail
    assert "STATION_REQUIRE_ALL=1" in detail  # the skip says that make test would fail here
    # the old per-component flag still turns its own requirement into a failure
    outcome, detail = results["test_legacy_flag"]
    assert outcome == "failure" and "STATION_REQUIRE_PCSC=1 but pcscd is missing: apt-get install pcscd" in detail
    assert results["test_requirements_present"][0] == results["test_passes"][0] == "passed"
    assert "skipped 8: 1 declared (needs_root: not running as root), 7 other" in output


def test_as_root_the_root_only_test_runs(tmp_path):
    results, output = run(tmp_path, "test_sample.py::test_root_only", euid=0, STATION_REQUIRE_ALL="1")
    assert results == {"test_root_only": ("passed", "")}, output
    assert "skipped" not in output.splitlines()[-1]
