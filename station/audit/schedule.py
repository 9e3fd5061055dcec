"""The checkpoints' schedule while the station serves: at poll opening (the first time the station serves with the
poll open, when no opening checkpoint exists yet) and every ``audit.checkpoint_interval_minutes`` while the poll is
open. The close of poll takes its own (``runtime``). A checkpoint that fails is logged; serving goes on."""
from __future__ import annotations

import logging

from station.audit.transparency import TransparencyService
from station.service.periodic import Periodic

log = logging.getLogger(__name__)


class CheckpointScheduler(Periodic):
    """``start()`` takes the opening checkpoint when due and starts the hourly thread (none when the interval is 0);
    ``stop()`` waits for a checkpoint in progress. ``interval_s`` overrides the configured minutes (tests)."""

    def __init__(self, service: TransparencyService, *, interval_s: float | None = None) -> None:
        self._service = service
        super().__init__("checkpoint-scheduler",
                         interval_s if interval_s is not None else service.settings.interval_minutes * 60.0,
                         self._hourly)

    def start(self) -> None:
        try:
            if self._service.poll_open() and not self._service.has_checkpoint("open"):
                self._service.take_quietly("open")
        except Exception:  # noqa: BLE001 - e.g. a database not yet migrated: serving goes on, doctor tells
            log.exception("opening checkpoint not taken")
        if self.interval_s <= 0:
            log.info("hourly checkpoints are off (audit.checkpoint_interval_minutes = 0)")
            return
        super().start()

    def _hourly(self) -> None:
        try:
            if self._service.poll_open():
                self._service.take_quietly("hourly")
        except Exception:  # noqa: BLE001 - a checkpoint must never take the station down; it is logged
            log.exception("scheduled checkpoint failed")
