"""The laptop's battery through UPower (upowerd, on the system D-Bus; Debian's ``upower`` package): whether the
machine runs on battery (org.freedesktop.UPower ``OnBattery``) and the charge of its "display device", UPower's
summary of the batteries (``Percentage``, ``State``, ``TimeToEmpty``, ``IsPresent``).

D-Bus is spoken with jeepney (pure Python, no compiled binding); a connection is opened per reading (one every
``power.poll_seconds``), so a restarted upowerd or D-Bus is simply found again. The bus is the system bus
(``$DBUS_SYSTEM_BUS_ADDRESS`` when set, as every D-Bus client does: the tests run a private bus with a mock UPower)."""
from __future__ import annotations

from ..base import DeviceInfo, DeviceStatus
from ..errors import DeviceDisconnected, DeviceNotAvailable
from .base import STATES, PowerReading, PowerSource

BUS_NAME = "org.freedesktop.UPower"
MAIN_PATH = "/org/freedesktop/UPower"
MAIN_IFACE = "org.freedesktop.UPower"
DEVICE_IFACE = "org.freedesktop.UPower.Device"
TIMEOUT_S = 2.0
BATTERY_TYPE = 2  # UPower Device.Type: 2 = battery


class UPowerSource(PowerSource):
    backend = "upower"

    def __init__(self, bus: str = "SYSTEM") -> None:
        super().__init__()
        self._bus = bus
        self._version = "?"
        try:
            self._version = str(self._call(MAIN_PATH, MAIN_IFACE, "DaemonVersion"))
        except DeviceDisconnected as exc:
            raise DeviceNotAvailable(f"UPower: {exc}") from None

    def _connect(self):
        from jeepney.io.blocking import open_dbus_connection

        try:
            return open_dbus_connection(bus=self._bus)
        except (OSError, KeyError, ValueError) as exc:  # no bus socket, or no address for it
            raise DeviceDisconnected(f"no system D-Bus to reach UPower ({exc})") from None

    def _call(self, path: str, interface: str, prop: str | None = None, *, method: str | None = None):
        """One property (``prop``, or all of them when None) of ``interface`` at ``path``, or ``method``'s answer."""
        from jeepney import DBusAddress, DBusErrorResponse, Properties, new_method_call
        from jeepney.wrappers import unwrap_msg

        address = DBusAddress(path, bus_name=BUS_NAME, interface=interface)
        if method:
            message = new_method_call(address, method)
        elif prop:
            message = Properties(address).get(prop)
        else:
            message = Properties(address).get_all()
        with self._connect() as conn:
            try:
                body = unwrap_msg(conn.send_and_get_reply(message, timeout=TIMEOUT_S))
            except DBusErrorResponse as exc:
                raise DeviceDisconnected(f"UPower does not answer on the system bus ({exc.name}): is upower "
                                         "installed and running?") from None
            except (OSError, TimeoutError) as exc:
                raise DeviceDisconnected(f"UPower did not answer: {exc}") from None
        if method:
            return body[0]
        if prop:
            return body[0][1]  # a variant: (signature, value)
        return {name: value for name, (_signature, value) in body[0].items()}

    def _read(self) -> PowerReading:
        on_battery = bool(self._call(MAIN_PATH, MAIN_IFACE, "OnBattery"))
        display = self._call(MAIN_PATH, MAIN_IFACE, method="GetDisplayDevice")
        device = self._call(display, DEVICE_IFACE)
        present = bool(device.get("IsPresent")) and int(device.get("Type", 0)) == BATTERY_TYPE
        time_to_empty = int(device.get("TimeToEmpty", 0))
        return PowerReading(on_battery=on_battery, battery_present=present,
                            percentage=float(device["Percentage"]) if present else None,
                            state=STATES.get(int(device.get("State", 0)), "unknown"),
                            time_to_empty_s=time_to_empty if present and time_to_empty > 0 else None)

    def _describe(self, status: DeviceStatus) -> DeviceInfo:
        return DeviceInfo(kind=self.kind, backend=self.backend, vendor="freedesktop.org", model="UPower display device",
                          serial="upower", firmware=self._version, status=status)
