"""The Debian package of this checkout (`packaging/build-deb.sh`), built once per test run.

The build takes a minute or more (about 80 wheels copied from pip's cache, pyscard and PyGObject from its wheel cache,
~350 MB through dpkg-deb), so every module that needs the package shares one: under pytest-xdist the workers of a run
share a folder, and the first to ask builds while the others wait on a lock."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.require import require_executable
from tests.support.stations import REPO


def built_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_executable("dpkg-deb", "Debian's package dpkg (essential on every Debian system)")
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "station-deb"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "built"
        if done.exists():
            return Path(done.read_text())
        out = shared / "dist"
        env = {**os.environ, "DIST": str(out), "LINTIAN": "0",
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        run = subprocess.run(["bash", str(REPO / "packaging/build-deb.sh")], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=900, check=False)
        assert run.returncode == 0, run.stderr
        path = Path(run.stdout.strip().splitlines()[-1])
        done.write_text(str(path))
        return path
