"""A private ``pcscd`` for tests, benchmarks and demos with the vpcd emulator (never used by a production station).

``PcscdProcess.ensure()`` reuses a pcscd that already answers on its socket, or starts ``pcscd --foreground``
(no systemd), waits for ``/run/pcscd/pcscd.comm`` and remembers the PID; ``stop()`` ends only a process it started,
by that PID.
"""
from __future__ import annotations

import glob
import shutil
import socket
import subprocess
import time
from pathlib import Path

from ..errors import DeviceNotAvailable

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
VPCD_DRIVER_GLOBS = ("/usr/lib/pcsc/drivers/serial/libifdvpcd.so*", "/usr/lib*/pcsc/drivers/**/libifdvpcd.so*")
VPCD_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
VPCD_PORTS = (35963, 35964)


def pcscd_installed() -> bool:
    return shutil.which("pcscd") is not None or Path("/usr/sbin/pcscd").is_file()


def vpcd_installed() -> bool:
    return any(glob.glob(pattern, recursive=True) for pattern in VPCD_DRIVER_GLOBS)


def pcscd_answers(path: Path = PCSCD_SOCKET) -> bool:
    """A pcscd is listening on its socket now."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


class PcscdProcess:
    def __init__(self, log_path: str | Path | None = None) -> None:
        self.process: subprocess.Popen | None = None
        self.reused = False
        self._log_path = Path(log_path) if log_path else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def ensure(self, timeout_s: float = 10.0) -> PcscdProcess:
        if pcscd_answers():
            self.reused = True
            return self
        binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen([binary, "--foreground"], stdout=log, stderr=subprocess.STDOUT)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        deadline = time.monotonic() + timeout_s
        while not pcscd_answers():
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise DeviceNotAvailable(f"pcscd exited with status {code} at start (root or /run/pcscd access needed?)")
            if time.monotonic() > deadline:
                self.stop()
                raise DeviceNotAvailable(f"pcscd did not open {PCSCD_SOCKET} within {timeout_s:.0f} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)
