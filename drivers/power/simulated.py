"""The simulated power source: a battery whose charge and mains state are set from outside (the simulation API,
``station devices power``, tests), starting as the device file says. It does not drain by itself: a demo or a test
says when the mains fails and how full the battery is."""
from __future__ import annotations

import threading
from pathlib import Path

from ..simulation import FaultScript, ScriptedDevice, read_device_file
from .base import PowerReading, PowerSource


class SimulatedPowerSource(ScriptedDevice, PowerSource):
    backend = "sim"

    def __init__(self, fixture: str | Path) -> None:
        super().__init__()
        self._device = read_device_file(fixture, "power")
        self._faults = FaultScript("power", self._device.options.get("faults"))
        self._state_lock = threading.Lock()
        self._on_battery = False
        self._percentage = 100.0
        # the device file's state; its faults wait for the first reading (opening the device reads nothing)
        self._apply(*self._checked(bool(self._device.options.get("on_battery", False)),
                                   float(self._device.options.get("percentage", 100.0))))

    def set(self, *, on_battery: bool | None = None, percentage: float | None = None) -> PowerReading:
        """Pull or restore the mains, and/or set the battery's charge (0-100); returns the new reading. A scripted
        fault is raised before anything changes: a faulty device takes no change (ValueError, for a charge out of
        range, comes first and takes no fault)."""
        on_battery, percentage = self._checked(on_battery, percentage)
        self._faults.raise_next()
        self._apply(on_battery, percentage)
        return self._reading()

    @staticmethod
    def _checked(on_battery: bool | None, percentage: float | None) -> tuple[bool | None, float | None]:
        if percentage is not None:
            percentage = float(percentage)
            if not 0.0 <= percentage <= 100.0:
                raise ValueError("a battery's charge is 0-100 percent")
        return (None if on_battery is None else bool(on_battery)), percentage

    def _apply(self, on_battery: bool | None, percentage: float | None) -> None:
        with self._state_lock:
            if on_battery is not None:
                self._on_battery = on_battery
            if percentage is not None:
                self._percentage = percentage

    def _read(self) -> PowerReading:
        self._faults.raise_next()
        return self._reading()

    def _reading(self) -> PowerReading:
        with self._state_lock:
            on_battery, percentage = self._on_battery, self._percentage
        state = "discharging" if on_battery else ("fully-charged" if percentage >= 100.0 else "charging")
        # an honest-looking estimate for the demo: a laptop battery lasting 4 hours from full
        return PowerReading(on_battery=on_battery, battery_present=True, percentage=percentage, state=state,
                            time_to_empty_s=int(percentage * 144) if on_battery else None)
