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
        self.set(on_battery=bool(self._device.options.get("on_battery", False)),
                 percentage=float(self._device.options.get("percentage", 100.0)))

    def set(self, *, on_battery: bool | None = None, percentage: float | None = None) -> PowerReading:
        """Pull or restore the mains, and/or set the battery's charge (0-100); returns the new reading."""
        if percentage is not None and not 0.0 <= float(percentage) <= 100.0:
            raise ValueError("a battery's charge is 0-100 percent")
        with self._state_lock:
            if on_battery is not None:
                self._on_battery = bool(on_battery)
            if percentage is not None:
                self._percentage = float(percentage)
        return self._read()

    def _read(self) -> PowerReading:
        self._faults.raise_next()
        with self._state_lock:
            on_battery, percentage = self._on_battery, self._percentage
        state = "discharging" if on_battery else ("fully-charged" if percentage >= 100.0 else "charging")
        # an honest-looking estimate for the demo: a laptop battery lasting 4 hours from full
        return PowerReading(on_battery=on_battery, battery_present=True, percentage=percentage, state=state,
                            time_to_empty_s=int(percentage * 144) if on_battery else None)
