"""The web server's cookie key, keys/cookie-signing.key (``station.security.cookie_key``): 32 bytes, mode 0600, made at
the server's first start and kept, never sealed.

`station doctor` used to ignore it: with a file of the wrong size it said the station was healthy while `station
serve` refused to start. Odd files were worse at the start: a folder or a dangling link gave the system's terse
"Is a directory" / "No such file or directory", a keys folder the server may not write in named the temporary file
(".cookie-signing.key.<hex>.tmp"), and a FIFO hung the server without a word. Now doctor and the server judge the file
with one function: one line naming keys/cookie-signing.key and the way out."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from station.cli.common import ExitCode
from station.errors import KeyMissing
from station.security.cookie_key import COOKIE_KEY_FILE, KEY_BYTES, cookie_key
from tests.support.require import require_executable
from tests.support.stations import build_station, free_port

NOBODY = 65534


@pytest.fixture(scope="module")
def station(tmp_path_factory, make_database_url):
    url = make_database_url()
    st = build_station(tmp_path_factory.mktemp("cookie-key") / "home", url)
    st.init()
    st.url = url
    yield st
    st.close()


@pytest.fixture
def key(station):
    """Where the station's cookie key belongs; whatever a test puts there is removed afterwards."""
    path = station.config.keys_dir / COOKIE_KEY_FILE
    yield path
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    (path.parent / "elsewhere.key").unlink(missing_ok=True)


def doctor_line(station) -> tuple[bool, str]:
    checks = {name: (ok, detail) for name, ok, detail in station.doctor()}
    assert "cookie key" in checks, sorted(checks)
    return checks["cookie key"]


def plant(path: Path, kind: str) -> None:
    """An odd file at ``path``, as a power cut, a careless hand or an old release leaves them."""
    if kind.endswith("bytes"):
        path.write_bytes(os.urandom(int(kind.split()[0])))
        path.chmod(0o644)  # as a shell's `: > file` leaves it: the size is named, a chmod would not mend it
    elif kind == "a folder":
        path.mkdir()
    elif kind == "a dangling link":
        path.symlink_to(path.parent / "no-such-file")
    elif kind == "a link to a good key":
        target = path.parent / "elsewhere.key"
        target.write_bytes(os.urandom(KEY_BYTES))
        target.chmod(0o600)
        path.symlink_to(target)
    elif kind == "a FIFO":
        os.mkfifo(path, 0o600)
    elif kind == "mode 0644":
        path.write_bytes(os.urandom(KEY_BYTES))
        path.chmod(0o644)
    else:
        raise AssertionError(kind)


def refusal(keys_dir: Path) -> str:
    """The line ``cookie_key`` refuses the file with; run in a thread given 20 s, as a FIFO used to hang it (the
    thread is then let go by a writer opening the FIFO, and the test fails)."""
    outcome: dict = {}

    def judge() -> None:
        try:
            outcome["key"] = cookie_key(keys_dir)
        except Exception as exc:  # noqa: BLE001  (handed to the test's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=judge, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():
        os.close(os.open(keys_dir / COOKIE_KEY_FILE, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(20)
        pytest.fail("cookie_key() hung on the file for 20 s")
    if "key" in outcome:
        pytest.fail(f"cookie_key() took the file for a key ({len(outcome['key'])} bytes)")
    if not isinstance(outcome["error"], KeyMissing):
        raise outcome["error"]
    return str(outcome["error"])


ODD = ["0 bytes", "10 bytes", "33 bytes", "a folder", "a dangling link", "a link to a good key", "a FIFO",
       "mode 0644"]


def test_no_cookie_key_yet_is_ok_and_said_so(station, key):
    assert not key.exists()
    ok, detail = doctor_line(station)
    assert ok and "first start" in detail, detail


def test_the_key_the_server_makes_passes_doctor(station, key):
    made = cookie_key(station.config.keys_dir)
    assert len(made) == KEY_BYTES and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert cookie_key(station.config.keys_dir) == made  # kept
    ok, detail = doctor_line(station)
    assert ok and "32 bytes" in detail, detail


@pytest.mark.parametrize("kind", ODD)
def test_doctor_fails_where_the_server_refuses_with_the_same_line(station, key, kind):
    """One judgement for both: the line names the file and the way out, and the server never hangs (a FIFO)."""
    plant(key, kind)
    line = refusal(station.config.keys_dir)
    assert str(key) in line and "\n" not in line, line
    assert ("chmod 600" if kind == "mode 0644" else "remove it") in line, line
    if kind.endswith("bytes"):
        assert "bytes, not 32" in line and "chmod" not in line, line
    assert ".tmp" not in line and "Errno" not in line, line
    ok, detail = doctor_line(station)
    assert not ok and detail == line, detail


def test_a_keys_folder_the_server_may_not_write_in_is_named_not_the_temporary_file():
    """As a user without write permission on keys/ (nobody, when the tests run as root: file modes bind every user
    but root). The key cannot be made: the line names the key file and the folder, never the writer's temporary."""
    folder = Path(tempfile.mkdtemp(prefix="station-cookie-key-"))
    try:
        folder.chmod(0o755)
        keys = folder / "keys"
        keys.mkdir(mode=0o555)
        keys.chmod(0o555)
        prefix = []
        if os.geteuid() == 0:
            setpriv = require_executable("setpriv", "Debian package util-linux (apt-get install util-linux)")
            prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        program = ("import sys\nfrom station.errors import KeyMissing\nfrom station.security.cookie_key import "
                   "cookie_key\ntry:\n    cookie_key(sys.argv[1])\nexcept KeyMissing as exc:\n    print(exc)\n")
        result = subprocess.run([*prefix, sys.executable, "-c", program, str(keys)], capture_output=True, text=True,
                                timeout=120, check=False, cwd=Path(__file__).parents[3])
        assert result.returncode == 0 and result.stderr == "", result.stderr
        line = result.stdout.strip()
        assert str(keys / COOKIE_KEY_FILE) in line and ".tmp" not in line and "\n" not in line, line
        assert "Permission denied" in line, line
        assert list(keys.iterdir()) == []
    finally:
        shutil.rmtree(folder)


@pytest.mark.slow  # station serve in a subprocess
@pytest.mark.parametrize("kind", ["a folder", "a dangling link", "a FIFO"])
def test_station_serve_refuses_an_odd_cookie_key_in_one_line(station, key, kind):
    """In a child process with a time limit: a FIFO used to hang the server for good."""
    plant(key, kind)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STATION_")},
           "STATION_DATABASE__URL": station.url}
    try:
        result = subprocess.run([sys.executable, "-m", "station", "--profile", "test", "--home",
                                 str(station.config.home), "serve", "--host", "127.0.0.1", "--port", str(free_port())],
                                env=env, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`station serve` with {kind} as its cookie key neither started nor refused within 60 s")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == ExitCode.REFUSED, (result.returncode, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and str(key) in line and "remove it" in line, line

