"""A power source answers one question, often: how is the station powered now (``read() -> PowerReading``)?"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import asdict, dataclass

from ..base import Device

# UPower's Device.State values (org.freedesktop.UPower.Device, "State"): the words the station reports.
STATES = {0: "unknown", 1: "charging", 2: "discharging", 3: "empty", 4: "fully-charged", 5: "pending-charge",
          6: "pending-discharge"}


@dataclass(frozen=True)
class PowerReading:
    """What the power source says now. ``percentage`` and ``time_to_empty_s`` are None when no battery is present
    (a desktop on mains, or a battery UPower cannot see)."""

    on_battery: bool
    battery_present: bool
    percentage: float | None
    state: str  # one of STATES' words
    time_to_empty_s: int | None

    def to_dict(self) -> dict:
        return asdict(self)


class PowerSource(Device):
    kind = "power"

    def read(self) -> PowerReading:
        self._acquire()
        try:
            return self._read()
        finally:
            self._release()

    @abstractmethod
    def _read(self) -> PowerReading: ...
