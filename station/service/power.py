"""The battery watch while the station serves: polling stations run on laptops with bad power, and a flat battery
must not cost the day's log.

Every ``power.poll_seconds`` the configured power source (UPower on a laptop, simulated in the demo) is read. The
officer's screens show the last reading (``status()``); three changes are events:

- ``on_battery``: the mains failed (or the station started on battery);
- ``battery_low``: on battery and below ``power.low_percent`` (once, until the charge is back above the level plus
  ``HYSTERESIS_PERCENT`` or the mains returns);
- ``on_mains``: the mains is back.

Each event is logged (the application log, and the match log as ``power_event`` while the poll is open), and the
first two also take an automatic backup to the backup disk and a log checkpoint (reason "power"), so that the log is
safe and its state witnessed before the battery runs out. A source that cannot be read is shown as such and logged
when that changes; serving goes on."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Callable

from drivers.errors import DeviceError
from drivers.power.base import PowerReading

from station.config import PowerSection
from station.errors import StationError
from station.security.roles import ROLES
from station.security.users import Principal
from station.service.periodic import Periodic

log = logging.getLogger(__name__)

ON_BATTERY, BATTERY_LOW, ON_MAINS = "on_battery", "battery_low", "on_mains"
EVENTS = (ON_BATTERY, BATTERY_LOW, ON_MAINS)
SAFEGUARDED = (ON_BATTERY, BATTERY_LOW)  # the events that take a backup and a checkpoint
HYSTERESIS_PERCENT = 5.0


@dataclass(frozen=True)
class PowerStatus:
    """What the officer's screen shows: the last reading (None before the first, or when it failed), whether it is
    low, and the error of the last reading if it failed."""

    reading: PowerReading | None
    low: bool
    low_percent: float
    error: str | None
    checked_at: str | None

    @property
    def warn(self) -> bool:
        """Worth a banner: low, or running on the battery at all."""
        return self.low or bool(self.reading and self.reading.on_battery)

    def to_dict(self) -> dict:
        return {"reading": self.reading.to_dict() if self.reading else None, "low": self.low, "warn": self.warn,
                "low_percent": self.low_percent, "error": self.error, "checked_at": self.checked_at}


def events_between(previous: PowerReading | None, was_low: bool, now: PowerReading,
                   low_percent: float) -> tuple[list[str], bool]:
    """The events from ``previous`` (None: the station just started; taken as on mains) to ``now``, and whether
    ``now`` counts as low. Pure: the rules of the module's docstring."""
    events = []
    was_on_battery = bool(previous and previous.on_battery)
    if now.on_battery and not was_on_battery:
        events.append(ON_BATTERY)
    if not now.on_battery and was_on_battery:
        events.append(ON_MAINS)
    charge = now.percentage
    if not now.on_battery or charge is None:
        low = False
    elif was_low:
        low = charge < low_percent + HYSTERESIS_PERCENT
    else:
        low = charge < low_percent
    if low and not was_low:
        events.append(BATTERY_LOW)
    return events, low


class PowerWatch(Periodic):
    """Reads ``read()`` every ``settings.poll_seconds`` (``interval_s`` overrides it, for tests) and calls
    ``respond(event, reading)`` for each event. ``check()`` does one round now (the first, at start)."""

    def __init__(self, *, read: Callable[[], PowerReading], respond: Callable[[str, PowerReading], None],
                 settings: PowerSection, interval_s: float | None = None) -> None:
        super().__init__("power-watch", settings.poll_seconds if interval_s is None else interval_s, self.check)
        self._read, self._respond, self.settings = read, respond, settings
        self._lock = threading.Lock()
        self._status = PowerStatus(None, False, settings.low_percent, None, None)

    def start(self) -> bool:
        if self.interval_s <= 0:
            log.info("the battery is not watched (power.poll_seconds = 0)")
            return False
        self.check()
        super().start()
        return True

    def status(self) -> PowerStatus:
        with self._lock:
            return self._status

    def screen_status(self, principal: Principal) -> PowerStatus:
        """``status()`` for any signed-in user (the API; every screen shows it)."""
        principal.require(*ROLES)
        return self.status()

    def check(self) -> None:
        """One reading; the events it brings are answered (their failures logged, never raised)."""
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        try:
            reading = self._read()
        except (DeviceError, StationError) as exc:
            with self._lock:
                changed = self._status.error != str(exc)
                self._status = PowerStatus(None, False, self.settings.low_percent, str(exc), now)
            if changed:
                log.warning("the power source cannot be read: %s", exc)
            return
        with self._lock:
            previous, was_low = self._status.reading, self._status.low
            events, low = events_between(previous, was_low, reading, self.settings.low_percent)
            self._status = PowerStatus(reading, low, self.settings.low_percent, None, now)
        for event in events:
            try:
                self._respond(event, reading)
            except Exception:  # noqa: BLE001 - answering a power event must never take the station down
                log.exception("power event %s not answered", event)
