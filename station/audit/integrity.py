"""What the database holds beside the signed log: the match log's rows against their signed bodies, and the guards
that keep the table append-only (triggers; on PostgreSQL the role's privileges). Read by ``doctor`` and the live-log
verification; docs/audit-log.md says what each check covers and what it cannot.

Each row of ``match_log`` carries its signed ``body`` (canonical JSON), ``hash`` and ``signature``: the chain
(``chain.verify_entries``) checks those. The other columns (event, outcome, score, details, voter_ref, ...) are copies
of body fields for queries; ``column_mismatches`` compares every one of them with its body, so a column changed
behind the triggers' back (SQLite's REPLACE without recursive triggers, a dropped trigger, the attacker's own
sqlite3) is named by entry and column."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from station.audit.chain import Break, canonical
from station.db.models import MatchLogEntry

TABLE = MatchLogEntry.__tablename__
APPEND_ONLY_MESSAGE = f"{TABLE} is append-only"
# The triggers migration 0001 creates (kept in step with it): SQLite's two, PostgreSQL's one and its function.
SQLITE_TRIGGERS = {
    f"{TABLE}_no_{action.lower()}": (f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                                     f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END")
    for action in ("UPDATE", "DELETE")
}
POSTGRES_TRIGGER = f"{TABLE}_append_only"
# pg_trigger.tgtype bits: ROW 1, BEFORE 2, INSERT 4, DELETE 8, UPDATE 16, TRUNCATE 32.
_PG_ROW_BEFORE_DELETE_UPDATE = 1 | 2 | 8 | 16
FORBIDDEN_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_int(column: Any, signed: Any) -> bool:
    if column is None or signed is None:
        return column is None and signed is None
    return type(column) is int and type(signed) is int and column == signed


def _same_float(column: Any, signed: Any) -> bool:
    if column is None or signed is None:
        return column is None and signed is None
    return _is_number(column) and _is_number(signed) and float(column) == float(signed)


def _same_text(column: Any, signed: Any) -> bool:
    if column is None or signed is None:
        return column is None and signed is None
    return isinstance(column, str) and isinstance(signed, str) and column == signed


def _instant(value: Any) -> dt.datetime | None:
    """A stored or signed time as an aware instant (SQLite keeps the UTC wall time without its offset)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _same_time(column: Any, signed: Any) -> bool:
    a, b = _instant(column), _instant(signed)
    return a is not None and b is not None and a == b


def _same_details(column: Any, signed: Any) -> bool:
    if not isinstance(column, str) or not isinstance(signed, dict):
        return False
    try:
        return canonical(json.loads(column)) == canonical(signed)
    except (ValueError, TypeError):
        return False


# column -> (the body's field, how the two compare)
COMPARED: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "seq": ("seq", _same_int), "at": ("at", _same_time), "station_id": ("station", _same_text),
    "session_id": ("session", _same_text), "event": ("event", _same_text), "operator": ("operator", _same_text),
    "voter_ref": ("voter", _same_text), "voter_serial": ("serial", _same_int), "modality": ("modality", _same_text),
    "position": ("position", _same_text), "device_id": ("device", _same_text), "attempt": ("attempt", _same_int),
    "score": ("score", _same_float), "threshold": ("threshold", _same_float), "quality": ("quality", _same_int),
    "outcome": ("outcome", _same_text), "details": ("details", _same_details), "prev_hash": ("prev", _same_text),
}
SIGNED_COLUMNS = ("body", "hash", "signature")  # the signed triplet: checked by the chain itself


def _shown(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    text = value if isinstance(value, str) and value[:1] in "{[" else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def column_mismatches(session: Session) -> list[Break]:
    """Every row whose columns differ from its signed body, one ``Break`` (kind ``columns``) per entry naming each
    column. The values are read as the driver returns them (no SQLAlchemy conversion that a planted value could
    make fail); a body that does not parse is left to the chain's check (``malformed``)."""
    names = list(COMPARED)
    query = select(type_coerce(MatchLogEntry.body, String()),
                   *(type_coerce(getattr(MatchLogEntry, n), String()) for n in names)).order_by(MatchLogEntry.seq)
    breaks: list[Break] = []
    for body, *values in session.execute(query):
        try:
            fields = json.loads(body)
            seq = int(fields["seq"])
        except (ValueError, KeyError, TypeError):
            continue
        wrong = [f"column {name} is {_shown(value)}, the signed entry says {_shown(fields.get(COMPARED[name][0]))}"
                 for name, value in zip(names, values) if not COMPARED[name][1](value, fields.get(COMPARED[name][0]))]
        if wrong:
            breaks.append(Break(seq, "columns", f"entry {seq}: " + "; ".join(wrong)))
    return breaks


def _normal_sql(sql: str | None) -> str:
    return " ".join((sql or "").replace(";", " ; ").split()).lower()


def trigger_problems(session: Session) -> list[str]:
    """What is wrong with the append-only triggers of the match log: each missing, changed, disabled or unexpected
    trigger by name (empty when they are as the migration made them)."""
    dialect = session.get_bind().dialect.name
    connection = session.connection()
    problems: list[str] = []
    if dialect == "sqlite":
        found = dict(connection.exec_driver_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '{TABLE}'").all())
        for name, sql in SQLITE_TRIGGERS.items():
            if name not in found:
                problems.append(f"trigger {name} is missing")
            elif _normal_sql(found[name]) != _normal_sql(sql):
                problems.append(f"trigger {name} was changed: {' '.join(str(found[name]).split())[:120]}")
        problems += [f"unexpected trigger {name} on {TABLE}" for name in sorted(set(found) - set(SQLITE_TRIGGERS))]
        if connection.exec_driver_sql("PRAGMA recursive_triggers").scalar() != 1:
            problems.append("recursive_triggers is off on this connection (REPLACE would bypass the delete trigger)")
    elif dialect == "postgresql":
        rows = connection.exec_driver_sql(
            "SELECT t.tgname, t.tgenabled::text, t.tgtype, p.proname, p.prosrc FROM pg_trigger t "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            f"WHERE t.tgrelid = to_regclass('{TABLE}') AND NOT t.tgisinternal").all()
        found = {row[0]: row[1:] for row in rows}
        if POSTGRES_TRIGGER not in found:
            problems.append(f"trigger {POSTGRES_TRIGGER} is missing")
        else:
            enabled, tgtype, function, source = found[POSTGRES_TRIGGER]
            if enabled not in ("O", "A"):
                problems.append(f"trigger {POSTGRES_TRIGGER} is disabled (tgenabled {enabled!r})")
            if (int(tgtype) & _PG_ROW_BEFORE_DELETE_UPDATE) != _PG_ROW_BEFORE_DELETE_UPDATE:
                problems.append(f"trigger {POSTGRES_TRIGGER} was changed: "
                                "no longer BEFORE UPDATE OR DELETE FOR EACH ROW")
            if function != POSTGRES_TRIGGER or "raise exception" not in " ".join((source or "").lower().split()):
                problems.append(f"trigger {POSTGRES_TRIGGER} was changed: its function {function}() no longer refuses")
        problems += [f"unexpected trigger {name} on {TABLE}" for name in sorted(set(found) - {POSTGRES_TRIGGER})]
    return problems


def privilege_check(session: Session) -> tuple[bool, str] | None:
    """PostgreSQL: whether the station's own role could still UPDATE, DELETE or TRUNCATE the match log (migration
    0006 revokes them; a superuser bypasses privileges and triggers alike). None on other databases."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    row = session.connection().exec_driver_sql(
        "SELECT current_user, COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false), "
        + ", ".join(f"has_table_privilege('{TABLE}', '{p}')" for p in FORBIDDEN_PRIVILEGES)).one()
    role, superuser, *held = row
    if superuser:
        return False, (f"role {role} is a superuser: it bypasses privileges and triggers; run the station as a role "
                       "of its own (docs/audit-log.md)")
    still = [p for p, has in zip(FORBIDDEN_PRIVILEGES, held) if has]
    if still:
        return False, (f"role {role} still holds {', '.join(still)} on {TABLE}: REVOKE {', '.join(still)} ON {TABLE} "
                       "FROM PUBLIC, CURRENT_USER (migration 0006)")
    return True, f"role {role} holds no {', '.join(FORBIDDEN_PRIVILEGES)} on {TABLE}"
