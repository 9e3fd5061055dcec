"""The checkpoints' schedule while the station serves: at poll opening (the first time the station serves with the
poll open, when no opening checkpoint exists yet) and every ``audit.checkpoint_interval_minutes`` while the poll is
open. The close of poll takes its own (``runtime``). A checkpoint that fails is logged; serving goes on."""
from __future__ import annotations

import logging
import threading

from station.audit.transparency import TransparencyService

log = logging.getLogger(__name__)


class CheckpointScheduler:
    """``start()`` takes the opening checkpoint when due and starts the hourly thread (none when the interval is 0);
    ``stop()`` waits for a checkpoint in progress. ``interval_s`` overrides the configured minutes (tests)."""

    def __init__(self, service: TransparencyService, *, interval_s: float | None = None) -> None:
        self._service = service
        self.interval_s = interval_s if interval_s is not None else service.settings.interval_minutes * 60.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Condition()
        self._runs = 0

    def start(self) -> None:
        try:
            if self._service.poll_open() and not self._service.has_checkpoint("open"):
                self._service.take_quietly("open")
        except Exception:  # noqa: BLE001 - e.g. a database not yet migrated: serving goes on, doctor tells
            log.exception("opening checkpoint not taken")
        if self.interval_s <= 0:
            log.info("hourly checkpoints are off (audit.checkpoint_interval_minutes = 0)")
            return
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="checkpoint-scheduler", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                if self._service.poll_open():
                    self._service.take_quietly("hourly")
            except Exception:  # noqa: BLE001 - a checkpoint must never take the station down; it is logged
                log.exception("scheduled checkpoint failed")
            with self._done:
                self._runs += 1
                self._done.notify_all()

    def wait_for_runs(self, count: int, timeout_s: float) -> bool:
        """Block until ``count`` scheduled rounds ran; False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self._runs >= count, timeout_s)

    @property
    def runs(self) -> int:
        return self._runs

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
