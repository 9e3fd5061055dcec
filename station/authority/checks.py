"""The station's policy around the ID-authority link: decision support, never a gate.

The verification flow calls one function, ``AuthorityChecks.consult(view, ...)``, at two points:

* after a session starts (state IDENTIFIED): the CNIC's status at the authority;
* after a fingerprint match (state VERIFIED, when ``authority.biometric_check``): a 1:1 check of the same print
  against the authority's record.

``consult`` hands the check to a background worker and returns at once: the officer never waits for the link. The
worker asks the authority with ``authority.timeout_s`` and writes the outcome to the match log:

    authority_answer        a verified, signed answer (the answer text, its signature and key id in the details)
    authority_unavailable   link down, slow (> timeout) or misconfigured: the check is queued
    authority_refused       garbage, a bad signature or an untrusted server certificate: refused, and queued
    authority_error         a signed error code (queued again if the authority says "retry")

Whatever happens, the station's own decision (roll, fingerprint, face, exception) is the one it made offline. An
answer other than "valid" flags the session (``AuthorityNote``, shown to the officer through the VerificationView);
blocked, deceased and unknown CNICs ask for the presiding officer, who decides: the station does not refuse a voter on
the authority's word alone (docs/authority.md says why). The authority's fingerprint decision is logged next to the
station's own.

Queued checks (table ``authority_queue``) are sent by ``flush()``: from ``station authority flush``, or from the
background flusher every ``authority.queue_flush_interval_s``. After a check finds the link down, later checks are
queued without trying until the next flush (or the next interval) finds it up again, so a dead link costs nothing.

The services that take a ``session`` (the caller owns the transaction) live in station/authority/: ``log_entries``
(match log entries), ``queue`` (the queue table), ``notes`` (what the officer sees). ``AuthorityChecks`` is built by
the composition root with the station's ``transaction`` factory, because its worker threads run their own
transactions, its log signer and template key, and (for roll updates) the station's roll package importer.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from sqlalchemy.orm import Session

from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.authority.base import AuthorityClient
from station.authority.errors import (AuthorityErrorAnswer, AuthorityNotConfigured, AuthorityResponseInvalid, AuthorityUnavailable)
from station.authority.log_entries import (ANSWER, BIOMETRIC, CNIC_STATUS, ERROR, EVENTS, REFUSED, UNAVAILABLE, error_details, log_answer, log_not_answered, refusal_outcome, result_word, short)
from station.authority.none import MisconfiguredAuthority
from station.authority.notes import AuthorityNote, note_for, with_note
from station.authority.queue import claim_pending, enqueue, finish, queue_summary, release
from station.authority.registry import open_client
from station.authority.settings import AuthoritySettings
from station.db.transactions import TransactionFactory
from station.packages.importing import PackageImporter
from station.security.keys import TemplateCipher, TemplateDecryptError, template_context

log = logging.getLogger(__name__)
NOT_CONFIGURED = ("ID authority link", True, "not configured (offline decisions only)")  # doctor's line, no link

PROBE_MODALITY = "authority_probe"  # template_context of a queued probe: never decrypts as a roll reference
__all__ = ["AuthorityChecks", "AuthorityNote", "CheckOutcome", "FlushReport", "EVENTS", "ANSWER", "UNAVAILABLE",
           "REFUSED", "ERROR", "note_for", "queue_summary"]


@dataclass(frozen=True)
class CheckOutcome:
    """What one check did (``check()`` and the worker)."""

    kind: str
    session_id: str | None
    outcome: str  # answered | queued | refused | error | not_configured
    result: str | None  # the answer: a CNIC status, "match" / "no_match", or the error code
    reason: str | None  # why it was not answered
    elapsed_ms: float
    log_seq: int | None
    queue_id: int | None


POLL_CLOSED_STOP = ("polls are closed: the sealed match log takes no more answers (the checks stay queued; the "
                    "station's own decisions were made offline)")


@dataclass(frozen=True)
class FlushReport:
    sent: int
    answered: int
    refused: int
    errors: int  # signed error answers that will not be retried (the item is "failed")
    pending: int  # still queued afterwards
    stopped: str | None  # why the flush stopped early (link down, refused answer), or None

    def to_dict(self) -> dict:
        return asdict(self)


class AuthorityChecks:
    """Checks against the authority for the verification flow, their queue and its flusher."""

    def __init__(self, client: AuthorityClient, *, transaction: TransactionFactory, signer: LogSigner,
                 cipher: TemplateCipher, importer: PackageImporter | None = None, workers: int = 2) -> None:
        self.client = client
        self._importer = importer  # imports the roll packages of roll updates; None: no roll updates
        self.settings: AuthoritySettings = client.settings
        self._transaction, self._signer, self._cipher = transaction, signer, cipher
        self._workers = workers
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: dict[str, set[str]] = {}
        self._active = 0
        self._down_until = 0.0
        self._down_reason: str | None = None
        self._flush_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def from_settings(cls, settings: AuthoritySettings, *, transaction: TransactionFactory, signer: LogSigner,
                      cipher: TemplateCipher, importer: PackageImporter | None = None,
                      workers: int = 2) -> "AuthorityChecks":
        """The checks over the client ``settings`` name (``AuthoritySettings.from_config``: the station's
        ``[authority]``). A configured link whose files are missing or wrong does not stop the station: every check
        is then queued as "link down" (with the reason) until the configuration is fixed."""
        try:
            client = open_client(settings)
        except AuthorityNotConfigured as exc:
            if settings.backend == "none":
                raise
            log.error("the ID-authority link cannot be used: %s", exc)
            client = MisconfiguredAuthority(settings, str(exc))
        return cls(client, transaction=transaction, signer=signer, cipher=cipher, importer=importer, workers=workers)

    @property
    def enabled(self) -> bool:
        return self.client.online

    # --- the hook ---
    def consult(self, view, *, operator: str, finger: str | None = None, template: bytes | None = None):
        """The flow's one call into the authority, after ``start_verification`` (no template: CNIC status) and after a
        fingerprint capture (the finger and its template: a 1:1 check when the station verified the voter). Returns
        at once with the view marked "pending"; the check runs in the background and never changes the decision."""
        if not self.client.online:
            return view
        if template is None:
            if view.state != "IDENTIFIED":
                return view
            kind = CNIC_STATUS
        else:
            if not self.settings.biometric_check or view.state != "VERIFIED" or not finger:
                return view
            kind = BIOMETRIC
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="authority")
            self._in_flight.setdefault(view.id, set()).add(kind)
            self._active += 1
            pool = self._pool
        try:
            pool.submit(self._run, kind, view.id, view.cnic, operator, finger, template, view.state)
        except RuntimeError:  # shutting down: no check, the decision is the station's as always
            self._done(view.id, kind)
            return view
        authority = getattr(view, "authority", None)
        if isinstance(authority, dict) or any(f.name == "authority" for f in dataclasses.fields(view)):
            note = dict(authority or AuthorityNote(None, None, None, None, None, None).to_dict())
            note["status_check" if kind == CNIC_STATUS else "biometric_check"] = "pending"
            return dataclasses.replace(view, authority=note)
        return view

    def annotate(self, session: Session, view):
        """The view with what the authority said so far (for every view the station builds)."""
        if not self.client.online:
            return view
        with self._lock:
            pending = frozenset(self._in_flight.get(view.id, ()))
        return with_note(view, note_for(session, view.id, pending))

    def _run(self, kind, session_id, cnic, operator, finger, template, station_state) -> None:
        try:
            self.check(kind, session_id=session_id, cnic=cnic, operator=operator, finger=finger, template=template,
                       station_state=station_state)
        except Exception:  # noqa: BLE001 - a background check must never take the station down; it is logged
            log.exception("ID-authority %s check of session %s failed", kind, session_id)
        finally:
            self._done(session_id, kind)

    def _done(self, session_id: str, kind: str) -> None:
        with self._lock:
            kinds = self._in_flight.get(session_id, set())
            kinds.discard(kind)
            if not kinds:
                self._in_flight.pop(session_id, None)
            self._active -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until no background check is running (tests, shutdown); False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._active == 0, timeout_s)

    # --- one check, synchronously ---
    def _link_down(self) -> str | None:
        with self._lock:
            return self._down_reason if time.monotonic() < self._down_until else None

    def _mark_down(self, reason: str) -> None:
        with self._lock:
            self._down_reason = reason
            self._down_until = time.monotonic() + max(1.0, min(self.settings.queue_flush_interval_s, 300.0))

    def _mark_up(self) -> None:
        with self._lock:
            self._down_until, self._down_reason = 0.0, None

    def _ask(self, kind: str, cnic: str, finger: str | None, template: bytes | None):
        if kind == CNIC_STATUS:
            return self.client.cnic_status(cnic)
        return self.client.verify_fingerprint(cnic, finger, template)

    def check(self, kind: str, *, session_id: str | None, cnic: str, operator: str, finger: str | None = None,
              template: bytes | None = None, station_state: str | None = None) -> CheckOutcome:
        """Ask now (within authority.timeout_s), log the outcome, queue the check when it was not answered."""
        started = time.monotonic()

        def ms() -> float:
            return round((time.monotonic() - started) * 1000, 1)

        if not self.client.online:
            return CheckOutcome(kind, session_id, "not_configured", None, "no link configured", 0.0, None, None)
        reason = self._link_down()
        if reason is not None:
            reason = f"link down since an earlier check ({reason}); not tried"
        else:
            try:
                result = self._ask(kind, cnic, finger, template)
            except AuthorityNotConfigured as exc:
                return CheckOutcome(kind, session_id, "not_configured", None, str(exc), ms(), None, None)
            except AuthorityUnavailable as exc:
                self._mark_down(str(exc))
                reason = str(exc)
            except AuthorityResponseInvalid as exc:
                return self._not_answered(REFUSED, refusal_outcome(exc), kind, session_id, cnic, finger, operator,
                                          str(exc), ms(), template, station_state, queue=True)
            except AuthorityErrorAnswer as exc:
                return self._not_answered(ERROR, "error", kind, session_id, cnic, finger, operator, str(exc), ms(),
                                          template, station_state, queue=exc.transient, extra=error_details(exc))
            else:
                self._mark_up()
                with self._transaction() as s:
                    entry = log_answer(s, self._signer, result, session_id=session_id, operator=operator,
                                       station_state=station_state)
                    seq = entry.seq
                return CheckOutcome(kind, session_id, "answered", result_word(result), None, result.elapsed_ms, seq,
                                    None)
        return self._not_answered(UNAVAILABLE, "queued", kind, session_id, cnic, finger, operator, reason, ms(),
                                  template, station_state, queue=True)

    def _not_answered(self, event, outcome, kind, session_id, cnic, finger, operator, reason, elapsed_ms, template,
                      station_state, *, queue: bool, extra: dict | None = None) -> CheckOutcome:
        with self._transaction() as s:
            item_id = None
            if queue:
                probe = None
                if template is not None:
                    probe = self._cipher.encrypt(template, template_context(cnic, PROBE_MODALITY, finger or ""))
                item_id = enqueue(s, kind=kind, session_id=session_id, cnic=cnic, operator=operator, reason=reason,
                                  finger=finger, probe_ciphertext=probe, station_state=station_state).id
            entry = log_not_answered(s, self._signer, event=event, outcome=outcome, kind=kind, session_id=session_id,
                                     cnic=cnic, finger=finger, operator=operator, reason=reason,
                                     elapsed_ms=elapsed_ms, queue_id=item_id, extra=extra)
            seq = entry.seq
        # one warning when the link fails; the checks queued while it is known to be down only at debug level
        (log.debug if reason.startswith("link down since") else log.warning)(
            "ID-authority %s check not answered (%s): %s", kind, event, reason)
        status = {UNAVAILABLE: "queued", REFUSED: "refused", ERROR: "error"}[event]
        return CheckOutcome(kind, session_id, status, (extra or {}).get("code"), reason, elapsed_ms, seq, item_id)

    # --- the queue ---
    def flush(self, limit: int = 200) -> FlushReport:
        """Send queued checks, oldest first, until the queue is empty, the link fails, or an answer is refused."""
        if not self.client.online:
            raise AuthorityNotConfigured('no ID-authority link is configured (authority.backend = "none"): '
                                         "queued checks cannot be sent")
        if not self._flush_lock.acquire(blocking=False):
            return FlushReport(0, 0, 0, 0, self.pending_count(), "another flush is running")
        try:
            if self._poll_closed():
                return FlushReport(0, 0, 0, 0, self.pending_count(), POLL_CLOSED_STOP)
            return self._flush(limit)
        finally:
            self._flush_lock.release()

    def _flush(self, limit: int) -> FlushReport:
        with self._transaction() as s:
            items = [(i.id, i.kind, i.session_id, i.cnic, i.finger, i.probe_ciphertext, i.station_state,
                      i.created_at) for i in claim_pending(s, limit)]
        sent = answered = refused = errors = 0
        stopped: str | None = None
        for index, (item_id, kind, session_id, cnic, finger, probe, station_state, created) in enumerate(items):
            if stopped is not None:
                with self._transaction() as s:
                    release(s, item_id, error=None, tried=False)
                continue
            template = None
            if kind == BIOMETRIC:
                try:
                    template = self._cipher.decrypt(probe or b"", template_context(cnic, PROBE_MODALITY, finger or ""))
                except TemplateDecryptError as exc:
                    with self._transaction() as s:
                        finish(s, item_id, state="failed", result="undecryptable", log_seq=None, error=str(exc))
                    errors += 1
                    continue
            sent += 1
            try:
                result = self._ask(kind, cnic, finger, template)
            except AuthorityUnavailable as exc:
                self._mark_down(str(exc))
                stopped = str(exc)
                with self._transaction() as s:
                    release(s, item_id, error=str(exc), tried=True)
            except AuthorityResponseInvalid as exc:
                refused += 1
                stopped = str(exc)
                with self._transaction() as s:
                    log_not_answered(s, self._signer, event=REFUSED, outcome=refusal_outcome(exc), kind=kind,
                                     session_id=session_id, cnic=cnic, finger=finger, operator="station",
                                     reason=str(exc), elapsed_ms=0.0, queue_id=item_id)
                    release(s, item_id, error=str(exc), tried=True)
            except AuthorityErrorAnswer as exc:
                with self._transaction() as s:
                    entry = log_not_answered(s, self._signer, event=ERROR, outcome="error", kind=kind,
                                             session_id=session_id, cnic=cnic, finger=finger, operator="station",
                                             reason=str(exc), elapsed_ms=0.0,
                                             queue_id=item_id, extra=error_details(exc))
                    if exc.transient:
                        release(s, item_id, error=str(exc), tried=True)
                    else:
                        finish(s, item_id, state="failed", result=f"error {exc.code}", log_seq=entry.seq,
                               error=str(exc))
                if exc.transient:
                    stopped = str(exc)
                else:
                    errors += 1
            else:
                self._mark_up()
                with self._transaction() as s:
                    entry = log_answer(s, self._signer, result, session_id=session_id, operator="station",
                                       queued_at=created, station_state=station_state)
                    finish(s, item_id, state="answered", result=result_word(result), log_seq=entry.seq)
                answered += 1
        report = FlushReport(sent=sent, answered=answered, refused=refused, errors=errors,
                             pending=self.pending_count(), stopped=stopped)
        if sent:
            log.info("ID-authority queue flush: %s", report)
        return report

    def pending_count(self) -> int:
        with self._transaction() as s:
            return queue_summary(s)["pending"]

    def _poll_closed(self) -> bool:
        with self._transaction() as s:
            return matchlog.poll_closed(s)

    def start_flusher(self) -> None:
        """Send queued checks every authority.queue_flush_interval_s from a daemon thread (``station serve``)."""
        if not self.client.online or self._flusher is not None:
            return
        self._stop.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name="authority-flush", daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.settings.queue_flush_interval_s):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the flusher must outlive a bad moment; it is logged
                log.exception("ID-authority queue flush failed")
            if (self.settings.roll_updates and self._importer is not None and self._link_down() is None
                    and not self._poll_closed()):
                try:
                    self.fetch_roll_updates()
                except AuthorityUnavailable as exc:
                    self._mark_down(str(exc))
                    log.warning("roll updates not fetched: %s", exc)
                except Exception:  # noqa: BLE001 - as above
                    log.exception("fetching roll updates from the ID authority failed")

    def fetch_roll_updates(self, operator: str = "authority"):
        """Fetch the roll packages the authority offers this station and import them (station/authority/
        roll_updates.py); a listing or download that cannot be trusted is logged as ``authority_refused``."""
        from station.authority.roll_updates import fetch_roll_updates

        if not self.client.online:
            raise AuthorityNotConfigured('no ID-authority link is configured (authority.backend = "none")')
        if self._importer is None:
            raise AuthorityNotConfigured("roll updates need the station's roll package importer (build AuthorityChecks "
                                         "with importer=...)")
        try:
            return fetch_roll_updates(self.client, self._importer, transaction=self._transaction,
                                      signer=self._signer, operator=operator)
        except AuthorityResponseInvalid as exc:
            with self._transaction() as s:
                matchlog.append(s, self._signer, event=REFUSED, operator=operator, outcome=refusal_outcome(exc),
                                details={"kind": "roll_updates", "reason": short(str(exc)), "queued": False})
            raise

    def health(self) -> tuple[str, bool, str]:
        """A line for ``station doctor``."""
        if not self.client.online:
            return NOT_CONFIGURED
        pending = self.pending_count()
        down = self._link_down()
        detail = f"{self.client.backend} {self.settings.url}; {pending} checks queued"
        if isinstance(self.client, MisconfiguredAuthority):
            return "ID authority link", False, f"misconfigured: {self.client.reason}"
        return "ID authority link", down is None, detail + (f"; link down: {down}" if down else "")

    def close(self) -> None:
        """Stop the flusher, let running checks finish, close the client; idempotent."""
        self._stop.set()
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.join(timeout=self.settings.timeout_s + 5)
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.client.close()


