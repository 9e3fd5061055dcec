"""The clock of the station's timeouts that must keep running while the laptop sleeps: a browser session's idleness
(``sessions``) and the login throttle's window (``throttle``).

``time.monotonic`` is CLOCK_MONOTONIC on Linux, which stops while the machine is suspended (clock_gettime(2)): a screen
whose lid was closed for hours would open still signed in, and a lockout would last its 15 minutes of time awake.
CLOCK_BOOTTIME is the same clock with the suspended time counted. Where there is none (not Linux), the monotonic
clock it is.

    boottime() -> float   # seconds, for differences only
"""
from __future__ import annotations

import time


def boottime() -> float:
    """Seconds since an arbitrary point (boot on Linux), the time the machine lay suspended included where the system
    counts it (CLOCK_BOOTTIME); else ``time.monotonic()``. Only differences mean anything."""
    clock_id = getattr(time, "CLOCK_BOOTTIME", None)
    if clock_id is None:
        return time.monotonic()
    return time.clock_gettime(clock_id)
