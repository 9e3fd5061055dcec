"""No silent skips: what a test needs beyond the Python packages of the project, and the pytest hooks that enforce it.

A test that needs a component the project does not import (a Debian program: chromium, pcscd, vpcd, systemd-creds,
dpkg-deb) or a data set beside the repository (../shared/datasets) says so with ``require``, ``require_path``,
``require_executable`` or ``require_module``. When the thing is missing, the test

- fails, with one line naming what is missing and how to install it, when STATION_REQUIRE_ALL=1 (as `make test` sets);
- is skipped with the same line otherwise (a developer's ad-hoc run).

The project's own Python dependencies (pyproject.toml, installed by scripts/install.sh) are imported plainly: missing,
the test module fails to import.

The only skips `make test` accepts are declared ones: a test marked ``@pytest.mark.needs_root("why")`` is skipped
when the tests do not run as root (nothing a package can install). With STATION_REQUIRE_ALL=1 any other skip (a bare
``pytest.skip``, ``skipif``, ``importorskip``, at module level too) is turned into a failure by the hooks below, which
tests/conftest.py registers. At the end of a session one line counts the skips by kind.

STATION_REQUIRE_PCSC=1 and STATION_REQUIRE_BROWSER=1, the flags of old, still make the PC/SC and browser requirements
fail (``legacy=``).
"""
from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from tests.support.paths import DATASETS

REQUIRE_ALL = "STATION_REQUIRE_ALL"
NEEDS_ROOT = "needs_root"
ROOT_REASON = "needs root: "  # the prefix of a declared root skip's reason
DATASETS_HOW = f"the shared data sets belong beside the repository, in {DATASETS} (tests/support/paths.py)"
INSTALL_TEST = "scripts/install.sh --test installs it (Debian package {})"
SYSTEMD_HOW = "Debian package systemd (apt-get install systemd; the station's package depends on it)"


def require_all(legacy: str | None = None) -> bool:
    """Whether a missing component is a failure: STATION_REQUIRE_ALL=1, or the given old per-component flag =1."""
    return os.environ.get(REQUIRE_ALL) == "1" or (legacy is not None and os.environ.get(legacy) == "1")


def missing(what: str, how: str, *, legacy: str | None = None) -> NoReturn:
    """Fail (STATION_REQUIRE_ALL=1) or skip the test, or the module when called at import, for ``what`` missing."""
    __tracebackhide__ = True  # the skip is reported at the test's line
    if require_all(legacy):
        flag = REQUIRE_ALL if os.environ.get(REQUIRE_ALL) == "1" else legacy
        pytest.fail(f"{flag}=1 but {what} is missing: {how}", pytrace=False)
    pytest.skip(f"{what} is missing ({how}); with {REQUIRE_ALL}=1, as `make test` sets, this fails",
                allow_module_level=True)


def require(condition: object | Callable[[], object], what: str, how: str, *, legacy: str | None = None) -> None:
    """``condition`` (or its result when callable) must be true, else ``what`` is missing."""
    __tracebackhide__ = True  # the skip is reported at the test's line
    if not (condition() if callable(condition) else condition):
        missing(what, how, legacy=legacy)


def require_path(path: Path | str, how: str = DATASETS_HOW, *, what: str | None = None, pattern: str | None = None,
                 legacy: str | None = None) -> Path:
    """``path`` must exist (with ``pattern``: a folder holding at least one file that matches the glob)."""
    __tracebackhide__ = True  # the skip is reported at the test's line
    path = Path(path)
    if pattern is None:
        found = path.exists()
    else:
        found = path.is_dir() and next(path.glob(pattern), None) is not None
    require(found, what or (str(path / pattern) if pattern else str(path)), how, legacy=legacy)
    return path


def require_executable(name: str, how: str, *, legacy: str | None = None) -> str:
    """The program ``name`` on PATH; its full path."""
    __tracebackhide__ = True  # the skip is reported at the test's line
    found = shutil.which(name)
    require(found is not None, f"the program {name}", how, legacy=legacy)
    return found


def require_module(name: str, how: str | None = None) -> ModuleType:
    """An optional Python module (not one of the project's dependencies: import those plainly)."""
    __tracebackhide__ = True  # the skip is reported at the test's line
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    missing(f"the Python module {name}", how or f".venv/bin/pip install {name}")


# --- the hooks (imported by tests/conftest.py; a pytest plugin of its own too: `-p tests.support.require`) ---------

def _is_root() -> bool:
    return os.geteuid() == 0


def _declared_skip(item: pytest.Item) -> bool:
    return item.get_closest_marker(NEEDS_ROOT) is not None and not _is_root()


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _unexpected(reason: str) -> str:
    return (f"skipped under {REQUIRE_ALL}=1: {reason} -- a test that needs a component or a data set says so with "
            f"tests/support/require.py (it fails with how to install it); the only declared skip is "
            f"@pytest.mark.{NEEDS_ROOT} (not running as root)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker(NEEDS_ROOT)
    if marker is not None and not _is_root():
        why = marker.args[0] if marker.args else "this test changes the machine as root"
        # reported at the test's line, as a skipif would be (pytest's own skipping plugin raises it so)
        raise pytest.skip.Exception(f"{ROOT_REASON}{why}", _use_item_location=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    if (report.skipped and not hasattr(report, "wasxfail") and os.environ.get(REQUIRE_ALL) == "1"
            and not _declared_skip(item)):
        report.outcome = "failed"
        report.longrepr = _unexpected(_reason(report))
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    if report.skipped and os.environ.get(REQUIRE_ALL) == "1":  # a module-level skip or importorskip
        report.outcome = "failed"
        report.longrepr = _unexpected(_reason(report))
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if not hasattr(r, "wasxfail")]
    if not skipped:
        return
    declared = sum(1 for r in skipped if _reason(r).startswith(ROOT_REASON))
    other = len(skipped) - declared
    terminalreporter.write_line(
        f"skipped {len(skipped)}: {declared} declared ({NEEDS_ROOT}: not running as root), {other} other"
        + (f" (a failure with {REQUIRE_ALL}=1)" if other else ""), yellow=True)
