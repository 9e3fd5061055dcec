"""A task the serving station runs every few minutes on its own thread (automatic backups, log checkpoints)."""
from __future__ import annotations

import threading
from typing import Callable


class Periodic:
    """Runs ``task`` every ``interval_s`` seconds on a daemon thread called ``name``, from ``start()`` until
    ``stop()`` (which waits for a round in progress). The task handles its own errors; the rounds are counted
    (``runs``, ``wait_for_runs``: for tests)."""

    def __init__(self, name: str, interval_s: float, task: Callable[[], None]) -> None:
        self.name, self.interval_s, self._task = name, interval_s, task
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Condition()
        self._runs = 0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._task()
            with self._done:
                self._runs += 1
                self._done.notify_all()

    def wait_for_runs(self, count: int, timeout_s: float) -> bool:
        """Block until ``count`` rounds ran (successful or not); False on timeout."""
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
