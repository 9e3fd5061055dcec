"""The shared-finger cross-check: after a voter verified, compare the print with those of the voters who already
voted here; a hit is logged as a ``cross_match`` anomaly (one finger enrolled under several identities). It runs on
one background worker after the decision, at a lower priority, so it does not slow the next voter down. Its
threshold is the engine's for ``last`` comparisons (``fingerprint.threshold_for``): a voter raises a false alarm with
a probability of at most ``fingerprint.max_false_alarm_rate``, not the 1:1 threshold's per-comparison rate times
``last``."""
from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from matching.engine import FingerprintEngine
from matching.errors import MatchingError

from station.audit import log as matchlog
from station.db.models import Voter
from station.db.transactions import TransactionFactory
from station.polling.flow import BiometricTask, FlowSettings
from station.roll import store as roll
from station.security.keys import TemplateCipher, template_context

log = logging.getLogger(__name__)


BACKGROUND_NICE = 10  # the cross-check's thread gives way to the officer-facing work (about a tenth of the CPU share)


def _yield_to_officers() -> None:
    """Lower this thread's scheduling priority (Linux: a thread is a task with its own nice value; raising it needs no
    privilege), so that a voter who steps up while the last voter's cross-check runs is not slowed by it."""
    if sys.platform == "linux":
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        except OSError as exc:  # a sandbox that forbids it: the check still runs, at normal priority
            log.warning("cross-check: could not lower the thread's priority: %s", exc)


class CrossChecker:
    def __init__(self, *, transaction: TransactionFactory, flow: FlowSettings, cipher: TemplateCipher,
                 matcher: FingerprintEngine, last: int, threshold: float) -> None:
        self.transaction = transaction
        self.flow = flow
        self.cipher = cipher
        self.matcher = matcher
        self.last = last  # voters compared with; 0 = off
        self.threshold = threshold
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, task: BiometricTask, probe: bytes) -> None:
        if self.last <= 0:
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="cross-check", initializer=_yield_to_officers)
            self._pool.submit(self.check, task, probe)

    def check(self, task: BiometricTask, probe: bytes) -> None:
        try:
            with self.transaction() as s:
                others = roll.recent_voter_references(s, self.flow.polling_station, task.position,
                                                      exclude_cnic=task.cnic, limit=self.last)
            hits = []
            for cnic, ciphertext, template_format in others:
                plain = self.cipher.decrypt(ciphertext, template_context(cnic, "fingerprint", task.position))
                try:
                    reference = self.matcher.reference(template_format, plain)
                except MatchingError:
                    continue  # a format the engine cannot read: verification already refused it for that voter
                if self.matcher.compare(probe, reference) >= self.threshold:
                    hits.append(cnic)
            if hits:
                with self.transaction() as s:
                    voter = s.scalar(select(Voter).where(Voter.cnic == task.cnic))
                    matchlog.append(s, self.flow.log, event="cross_match", operator="station", outcome="anomaly",
                                    session_id=task.session_id, voter=voter, modality="fingerprint",
                                    position=task.position,
                                    details={"also_matches": [self.flow.log.voter_ref(c) for c in hits],
                                             "compared": len(others), "threshold": round(self.threshold, 4)})
        except Exception:  # noqa: BLE001 - a background check must never take the station down; it is logged
            log.exception("cross-check of session %s failed", task.session_id)

    def wait(self) -> None:
        """Let queued cross-checks finish (tests, shutdown)."""
        pool = self._pool
        if pool is not None:
            pool.submit(lambda: None).result()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
