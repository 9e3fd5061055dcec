"""scripts/install.sh, the install step of both `make demo` and `make test`: the test install is a superset of the
plain one, so `make demo` right after `make test` must reuse the environment instead of rebuilding it (140 s)."""
import hashlib
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _digest() -> str:
    data = (ROOT / "pyproject.toml").read_bytes() + (ROOT / "scripts" / "install.sh").read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def _install(venv: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "install.sh"), *args], env={**os.environ, "VENV": str(venv)},
                          capture_output=True, text=True, timeout=60)


def test_the_plain_install_reuses_an_environment_the_test_install_made(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / f".installed-1-{_digest()}").touch()
    done = _install(venv)
    assert done.returncode == 0, done.stderr
    assert not (venv / "bin").exists()  # nothing was built: the test install's environment serves the demo


def test_a_test_install_from_another_revision_is_not_reused(tmp_path):
    """The stamp names the install script and pyproject.toml it was made from: an environment made from other ones is
    rebuilt. Shown without building it: with a stale stamp and no python to make a venv with, the script must try
    (and fail) instead of exiting 0."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed-1-0000000000000000").touch()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh")],
                          env={**os.environ, "VENV": str(venv), "PYTHON": "/nonexistent/python3"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "/nonexistent/python3" in done.stderr
