"""A folder named on the command line that the user cannot write in (an output's folder, the home): a usage error like
a folder that is not there (exit 2, docs/cli.md), one line naming the path given, before anything is changed. It used
to be exit 3, naming the writer's temporary file ("Permission denied: ro/.x.csr.6bdf5343.tmp"), or the home
("Operation not permitted: ro").

File modes bind every user but root, so the commands run in a real process as `nobody` when the tests run as root
(setpriv), else as the user running the tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from station.cli.common import ExitCode
from tests.support.require import require_executable

pytestmark = pytest.mark.slow  # the real CLI in a subprocess as another user

NOBODY = 65534


@pytest.fixture
def shared(tmp_path):
    """A folder the unprivileged user can reach (pytest's own are root's alone, 0700) and one it cannot write in."""
    folder = Path(tempfile.mkdtemp(prefix="station-unwritable-"))
    folder.chmod(0o755)
    (folder / "ro").mkdir(mode=0o555)
    (folder / "ro").chmod(0o555)
    (folder / "own").mkdir()
    if os.geteuid() == 0:
        os.chown(folder / "own", NOBODY, NOBODY)
    yield folder
    shutil.rmtree(folder)


def station(*argv: str) -> subprocess.CompletedProcess:
    prefix = []
    if os.geteuid() == 0:
        setpriv = require_executable("setpriv", "Debian package util-linux (apt-get install util-linux)")
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATION_")}
    return subprocess.run([*prefix, sys.executable, "-m", "station", "--profile", "test", *argv], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def refused(result: subprocess.CompletedProcess, line: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == ExitCode.USAGE, (result.returncode, result.stderr)
    assert result.stdout == "" and result.stderr == line + "\n", result.stderr


def test_an_output_into_a_folder_the_user_cannot_write_is_a_usage_error(shared):
    """On an initialised station: refused before the command runs, naming the path given, nothing written."""
    home = shared / "own" / "home"
    assert station("--home", str(home), "init").returncode == 0
    ro = shared / "ro"
    for argv in (["audit", "export", "--out", str(ro / "x.bundle")],
                 ["identity", "request", "--out", str(ro / "x.csr")]):
        result = station("--home", str(home), *argv)
        refused(result, f"error: cannot write {argv[-1]}: no permission to write in folder {ro}")
    assert list(ro.iterdir()) == []


def test_a_home_in_a_folder_the_user_cannot_write_is_a_usage_error(shared):
    ro = shared / "ro"
    refused(station("--home", str(ro / "home"), "init"),
            f"error: cannot make {ro / 'home'}: no permission to write in folder {ro}")
    refused(station("--home", str(ro), "init"), f"error: cannot write in {ro}: no permission")
    assert list(ro.iterdir()) == []
