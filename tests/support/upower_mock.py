"""A private D-Bus with a mock UPower on it, for the UPower backend's tests: Debian's dbus-daemon and
python3-dbusmock's ``upower`` template (the mock GNOME's own tests use), run by Debian's python3 because dbusmock
needs the compiled dbus binding. The test's process reaches it as its system bus through $DBUS_SYSTEM_BUS_ADDRESS,
the variable every D-Bus client honours. ``UPowerMock`` sets the mock's state the way upowerd would change it."""
from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.require import INSTALL_TEST, require, require_executable

SYSTEM_PYTHON = "/usr/bin/python3"
DBUSMOCK_HOW = INSTALL_TEST.format("python3-dbusmock")
MOCK_IFACE = "org.freedesktop.DBus.Mock"
DISPLAY = "/org/freedesktop/UPower/devices/DisplayDevice"
STATE_CODES = {"charging": 1, "discharging": 2, "fully-charged": 4}


def _has_dbusmock() -> bool:
    return subprocess.run([SYSTEM_PYTHON, "-c", "import dbusmock, dbus"], capture_output=True).returncode == 0


@contextmanager
def private_bus() -> Iterator[str]:
    """A session-type dbus-daemon of our own; yields its address."""
    require_executable("dbus-daemon", INSTALL_TEST.format("dbus"))
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE,
                              text=True)
    try:
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(10)
        daemon.stdout.close()


class UPowerMock:
    def __init__(self, address: str) -> None:
        self.address = address

    def _call(self, path: str, interface: str, method: str, signature: str | None = None, body: tuple = ()) -> tuple:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg

        target = DBusAddress(path, bus_name="org.freedesktop.UPower", interface=interface)
        with open_dbus_connection(bus=self.address) as conn:
            return unwrap_msg(conn.send_and_get_reply(new_method_call(target, method, signature, body), timeout=5))

    def set_on_battery(self, on_battery: bool) -> None:
        self._call("/org/freedesktop/UPower", "org.freedesktop.DBus.Properties", "Set", "ssv",
                   ("org.freedesktop.UPower", "OnBattery", ("b", on_battery)))

    def set_battery(self, percentage: float, state: str, time_to_empty_s: int = 0, present: bool = True) -> None:
        """The display device as a battery (Type 2) at ``percentage`` in ``state``."""
        self._call("/org/freedesktop/UPower", MOCK_IFACE, "SetupDisplayDevice", "uuddddxxbsu",
                   (2, STATE_CODES[state], float(percentage), 40.0, 50.0, 10.0, time_to_empty_s, 0, present,
                    "battery", 1))


@contextmanager
def upower_mock(monkeypatch, on_battery: bool = False) -> Iterator[UPowerMock]:
    """A mock upowerd on a private bus, made this process's system bus for the test."""
    require(_has_dbusmock, "python3-dbusmock (for Debian's python3)", DBUSMOCK_HOW)
    with private_bus() as address:
        mock = subprocess.Popen([SYSTEM_PYTHON, "-m", "dbusmock", "--system", "--template", "upower", "-p",
                                 '{"OnBattery": %s}' % ("true" if on_battery else "false")],
                                env={"DBUS_SYSTEM_BUS_ADDRESS": address, "PATH": "/usr/bin:/bin"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            handle = UPowerMock(address)
            deadline = time.monotonic() + 15
            while True:  # until the mock owns its name on the bus
                try:
                    handle._call("/org/freedesktop/UPower", "org.freedesktop.UPower", "GetDisplayDevice")
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    if mock.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the UPower mock did not start: {mock.stderr.read()}") from None
                    time.sleep(0.1)
            monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
            yield handle
        finally:
            mock.terminate()
            mock.wait(10)
            mock.stderr.close()
