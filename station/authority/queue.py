"""The queue of checks made while the link was down (table ``authority_queue``): services that take the caller's
session. A flush claims items with a conditional UPDATE, so two flushes (the server's and a command's) never send
the same item; the items of a flush that died are pending again after STALE_CLAIM."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from station.db.models import AuthorityQueueItem, utcnow
from station.authority.log_entries import short

STALE_CLAIM = dt.timedelta(minutes=10)


def enqueue(session: Session, *, kind: str, session_id: str | None, cnic: str, operator: str, reason: str,
            finger: str | None = None, probe_ciphertext: bytes | None = None,
            station_state: str | None = None) -> AuthorityQueueItem:
    now = utcnow()
    item = AuthorityQueueItem(kind=kind, session_id=session_id, cnic=cnic, finger=finger,
                              probe_ciphertext=probe_ciphertext, station_state=station_state, operator=operator,
                              state="pending", attempts=0, last_error=short(reason), created_at=now, updated_at=now)
    session.add(item)
    session.flush()
    return item


def claim_pending(session: Session, limit: int) -> list[AuthorityQueueItem]:
    """Mark up to ``limit`` pending items (oldest first) as being sent by this flush; two flushes never take the same
    item (the conditional UPDATE), and items of a flush that died are pending again after STALE_CLAIM."""
    now = utcnow()
    session.execute(update(AuthorityQueueItem).where(AuthorityQueueItem.state == "sending",
                                                     AuthorityQueueItem.updated_at < now - STALE_CLAIM)
                    .values(state="pending"))
    ids = session.scalars(select(AuthorityQueueItem.id).where(AuthorityQueueItem.state == "pending")
                          .order_by(AuthorityQueueItem.id).limit(limit)).all()
    claimed = [i for i in ids if session.execute(
        update(AuthorityQueueItem).where(AuthorityQueueItem.id == i, AuthorityQueueItem.state == "pending")
        .values(state="sending", updated_at=now)).rowcount == 1]
    if not claimed:
        return []
    return list(session.scalars(select(AuthorityQueueItem).where(AuthorityQueueItem.id.in_(claimed))
                                .order_by(AuthorityQueueItem.id)))


def release(session: Session, item_id: int, *, error: str | None, tried: bool) -> None:
    """Back to pending after a failed or skipped send."""
    values: dict[str, Any] = {"state": "pending", "updated_at": utcnow()}
    if tried:
        values["attempts"] = AuthorityQueueItem.attempts + 1
    if error:
        values["last_error"] = short(error)
    session.execute(update(AuthorityQueueItem).where(AuthorityQueueItem.id == item_id).values(**values))


def finish(session: Session, item_id: int, *, state: str, result: str, log_seq: int | None,
           error: str | None = None) -> None:
    """Answered (or failed for good): the probe template is deleted."""
    session.execute(update(AuthorityQueueItem).where(AuthorityQueueItem.id == item_id).values(
        state=state, result=result, log_seq=log_seq, probe_ciphertext=None, updated_at=utcnow(),
        attempts=AuthorityQueueItem.attempts + 1, last_error=short(error) if error else None))


def queue_summary(session: Session) -> dict:
    counts = dict(session.execute(select(AuthorityQueueItem.state, func.count())
                                  .group_by(AuthorityQueueItem.state)).all())
    oldest = session.scalar(select(func.min(AuthorityQueueItem.created_at))
                            .where(AuthorityQueueItem.state.in_(("pending", "sending"))))
    return {"pending": counts.get("pending", 0) + counts.get("sending", 0), "answered": counts.get("answered", 0),
            "failed": counts.get("failed", 0), "oldest_pending": oldest.isoformat() if oldest else None}
