"""The match log entries of the authority link: answers with their signatures, and what happened when there was no
answer. Never a template or an image; voters appear as the log's keyed hash of the CNIC (and roll serial)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.db.models import MatchLogEntry, Voter
from station.authority.errors import (AuthorityCertificateUntrusted, AuthorityErrorAnswer, AuthorityResponseInvalid,
                     AuthoritySignatureInvalid)
from station.authority.results import BiometricResult, CnicStatus

ANSWER, UNAVAILABLE = "authority_answer", "authority_unavailable"
REFUSED, ERROR = "authority_refused", "authority_error"
EVENTS = (ANSWER, UNAVAILABLE, REFUSED, ERROR)
CNIC_STATUS, BIOMETRIC = "cnic_status", "biometric"
WARNING_STATUSES = ("blocked", "deceased", "unknown")  # the presiding officer decides
NOTICE_STATUSES = ("expired",)  # shown; the officer goes on as usual
LOG_TEXT = 500  # the match log's limit for one text detail


def _voter(session: Session, cnic: str) -> Voter | None:
    return session.scalar(select(Voter).where(Voter.cnic == cnic))


def short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def status_flag(status: str | None) -> str | None:
    return "warning" if status in WARNING_STATUSES else "notice" if status in NOTICE_STATUSES else None


def log_answer(session: Session, signer: LogSigner, result: CnicStatus | BiometricResult, *,
               session_id: str | None, operator: str, queued_at: dt.datetime | None = None,
               station_state: str | None = None) -> MatchLogEntry:
    """The authority's signed answer, as received, with its signature (never the sample that was sent)."""
    answer = result.answer
    details: dict[str, Any] = {
        "kind": CNIC_STATUS if isinstance(result, CnicStatus) else BIOMETRIC, "request_id": result.request_id,
        "reference": result.reference, "code": result.code, "authority_at": result.at,
        "elapsed_ms": result.elapsed_ms, "key_id": answer.key_id, "signature": answer.signature,
        "answer_sha256": answer.sha256, "answer": answer.log_text(LOG_TEXT),
        "queued": queued_at is not None, "queued_at": queued_at.isoformat() if queued_at else None}
    if isinstance(result, CnicStatus):
        outcome, modality, position = result.status, None, None
        details["flag"] = status_flag(result.status)
    else:
        outcome, modality, position = ("match" if result.match else "no_match"), "fingerprint", result.finger
        details["station_state"] = station_state
        details["flag"] = None if result.match else "warning"
    return matchlog.append(session, signer, event=ANSWER, operator=operator, outcome=outcome, session_id=session_id,
                           voter=_voter(session, result.cnic), cnic=result.cnic, modality=modality,
                           position=position, details=details)


def log_not_answered(session: Session, signer: LogSigner, *, event: str, outcome: str, kind: str,
                     session_id: str | None, cnic: str, finger: str | None, operator: str, reason: str,
                     elapsed_ms: float, queue_id: int | None, extra: dict | None = None) -> MatchLogEntry:
    """authority_unavailable / authority_refused / authority_error: what happened, and where the check went."""
    details = {"kind": kind, "reason": short(reason), "elapsed_ms": elapsed_ms, "queued": queue_id is not None,
               "queue_id": queue_id, **(extra or {})}
    return matchlog.append(session, signer, event=event, operator=operator, outcome=outcome, session_id=session_id,
                           voter=_voter(session, cnic), cnic=cnic,
                           modality="fingerprint" if kind == BIOMETRIC else None, position=finger, details=details)


def refusal_outcome(exc: AuthorityResponseInvalid) -> str:
    if isinstance(exc, AuthoritySignatureInvalid):
        return "bad_signature"
    if isinstance(exc, AuthorityCertificateUntrusted):
        return "untrusted_certificate"
    return "invalid_answer"


def error_details(exc: AuthorityErrorAnswer) -> dict:
    answer = exc.answer
    return {"code": exc.code, "retry": exc.transient, "key_id": answer.key_id, "signature": answer.signature,
            "answer_sha256": answer.sha256, "answer": answer.log_text(LOG_TEXT)}


def result_word(result: CnicStatus | BiometricResult) -> str:
    return result.status if isinstance(result, CnicStatus) else ("match" if result.match else "no_match")
