"""What the officer sees about the authority in one verification: a note built from the session's match log
entries (and the checks still in flight), attached to the VerificationView. Decision support only."""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from station.audit import log as matchlog
from station.db.models import MatchLogEntry
from station.authority.log_entries import (ANSWER, BIOMETRIC, CNIC_STATUS, ERROR, EVENTS, NOTICE_STATUSES, REFUSED, UNAVAILABLE,
                          WARNING_STATUSES)


@dataclass(frozen=True)
class AuthorityNote:
    """What the officer sees about the authority in one verification (decision support)."""

    status_check: str | None  # pending | answered | unavailable | refused | error | None (not asked)
    cnic_status: str | None  # valid | expired | blocked | deceased | unknown, once answered
    biometric_check: str | None  # pending | answered | unavailable | refused | error | None
    authority_match: bool | None  # the authority's own 1:1 fingerprint decision
    flag: str | None  # None | "notice" | "warning" (a warning asks for the presiding officer)
    message: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def note_for(session: Session, session_id: str,
             pending: set[str] | frozenset[str] = frozenset()) -> AuthorityNote | None:
    """The authority's part of one verification, from its match log entries (``pending``: kinds in flight)."""
    # From the signed bodies (the session column only narrows the rows read; doctor names a column that lies).
    rows = [(b.get("event"), b.get("outcome"), b.get("details") if isinstance(b.get("details"), dict) else {})
            for b in matchlog.bodies(session, MatchLogEntry.session_id == session_id)
            if b.get("session") == session_id and b.get("event") in EVENTS]
    if not rows and not pending:
        return None
    state_of = {ANSWER: "answered", UNAVAILABLE: "unavailable", REFUSED: "refused", ERROR: "error"}
    latest: dict[str, tuple[str, str, dict]] = {}
    for event, outcome, d in rows:
        kind = d.get("kind")
        if kind in (CNIC_STATUS, BIOMETRIC) and (latest.get(kind, ("",))[0] != "answered" or event == ANSWER):
            latest[kind] = (state_of[event], outcome, d)  # an answer, once there, stays (a later flush may add one)
    status = latest.get(CNIC_STATUS)
    bio = latest.get(BIOMETRIC)
    status_check = "pending" if CNIC_STATUS in pending and status is None else (status[0] if status else None)
    bio_check = "pending" if BIOMETRIC in pending and bio is None else (bio[0] if bio else None)
    cnic_status = status[1] if status and status[0] == "answered" else None
    match = (bio[1] == "match") if bio and bio[0] == "answered" else None
    flags, messages = [], []
    if cnic_status in WARNING_STATUSES:
        what = "has no record of this CNIC" if cnic_status == "unknown" else f"reports this CNIC as {cnic_status}"
        flags.append("warning")
        messages.append(f"WARNING: the ID authority {what}: call the presiding officer, who decides "
                        "(the station does not refuse on this alone)")
    elif cnic_status in NOTICE_STATUSES:
        flags.append("notice")
        messages.append(f"NOTE: the ID authority reports this CNIC as {cnic_status}; this does not change the "
                        "roll's decision")
    if match is False:
        flags.append("warning")
        messages.append("WARNING: the ID authority's own fingerprint check did not match: call the presiding "
                        "officer, who decides")
    # A link down, slow or answering an error code is not the officer's business (the note's *_check fields say it,
    # quietly); an answer refused as untrusted may be an attack on the link, and the technician must look.
    for kind, entry in ((CNIC_STATUS, status), (BIOMETRIC, bio)):
        if entry is not None and entry[0] == "refused":
            what = "status" if kind == CNIC_STATUS else "fingerprint"
            messages.append(f"ID authority {what} answer refused ({entry[1].replace('_', ' ')}): decided offline, "
                            "check queued; tell the technician")
    return AuthorityNote(status_check=status_check, cnic_status=cnic_status, biometric_check=bio_check,
                         authority_match=match, flag="warning" if "warning" in flags else (flags[0] if flags else None),
                         message=" | ".join(messages) or None)


def with_note(view, note: AuthorityNote | None, *, message: bool = True):
    """The view with the note attached (``view.authority``) and its message appended to the officer's message."""
    if note is None:
        return view
    changes: dict[str, Any] = {}
    if message and note.message:
        changes["message"] = f"{view.message} | {note.message}"
    if any(f.name == "authority" for f in dataclasses.fields(view)):  # VerificationView.authority, once wired
        changes["authority"] = note.to_dict()
    return dataclasses.replace(view, **changes) if changes else view
