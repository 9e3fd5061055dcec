"""The auditor's view of the live log: signed entries, the chain's verification, the HTML report, and the export of
a bundle for offline verification. Reads only; the log is written by the services that decide."""
from __future__ import annotations

import json
from pathlib import Path

from station.audit import bundle, identity, integrity
from station.audit import log as matchlog
from station.audit.chain import verify_entries
from station.audit.report import ReportSettings, analyse, render_html
from station.audit.transparency import tree_breaks
from station.config import Config
from station.db.models import utcnow
from station.db.transactions import TransactionFactory
from station.i18n.languages import DEFAULT_LANGUAGE
from station.roll import store as roll
from station.security.roles import AUDIT_ROLES, REPORT_ROLES
from station.security.users import Principal

MAX_LOG_READ = 1000  # the most entries one read of the log returns (GET /api/audit/log's largest limit)


class AuditService:
    def __init__(self, *, transaction: TransactionFactory, config: Config) -> None:
        self.transaction = transaction
        self.config = config  # station id, keys folder, [audit] report settings, checkpoint folder

    def _certificate_key(self):
        return identity.station_public_key(self.config.keys_dir)

    def export(self, out: Path) -> dict:
        self._certificate_key()  # KeyMissing when keys/station.crt is damaged: a bundle no one could verify
        with self.transaction() as s:
            entries = matchlog.signed_entries(s)
            digest = roll.get_meta(s, roll.ROLL_DIGEST)
        return bundle.export_bundle(self.config, entries, digest, Path(out), utcnow().isoformat())

    def _checked_live_log(self) -> tuple[list, list[dict], str | None]:
        """(every break, the verified bodies, the roll digest) of the live log: its chain and signatures under the
        station certificate, every row's columns against its signed body (a ``columns`` break names the entry and
        column), and every stored Merkle-tree checkpoint against the log (``transparency.tree_breaks``)."""
        key = self._certificate_key()
        with self.transaction() as s:
            entries = matchlog.signed_entries(s)
            digest = roll.get_meta(s, roll.ROLL_DIGEST)
            mismatches = integrity.column_mismatches(s)
            checkpoints = tree_breaks(s, key, self.config.station.id)
        breaks, bodies = verify_entries(entries, key, self.config.station.id)
        return breaks + mismatches + checkpoints, bodies, digest

    def verify_live_log(self) -> list:
        """Every break of the live log (what `doctor` and the auditor API show): ``_checked_live_log``."""
        return self._checked_live_log()[0]

    def append_only_checks(self) -> list[tuple[str, bool, str]]:
        """Doctor's checks of what keeps the log append-only: its triggers, and on PostgreSQL the role's privileges."""
        with self.transaction() as s:
            problems = integrity.trigger_problems(s)
            privileges = integrity.privilege_check(s)
            sqlite = s.get_bind().dialect.name == "sqlite"
        names = ", ".join(integrity.SQLITE_TRIGGERS) if sqlite else integrity.POSTGRES_TRIGGER
        checks = [("match log triggers", not problems, "; ".join(problems) if problems else f"{names} in place")]
        if privileges is not None:
            checks.append(("match log privileges", *privileges))
        return checks

    def entries(self, principal: Principal, after: int = 0, limit: int = 200) -> list[dict]:
        principal.require(*AUDIT_ROLES)
        if limit <= 0:  # signed_entries reads a limit of 0 as no limit
            return []
        with self.transaction() as s:
            return [{"body": json.loads(e.body), "hash": e.hash, "sig": e.signature}
                    for e in matchlog.signed_entries(s, after=after, limit=min(limit, MAX_LOG_READ))]

    def verification(self, principal: Principal) -> dict:
        principal.require(*AUDIT_ROLES)
        breaks = self.verify_live_log()
        with self.transaction() as s:
            head = matchlog.head(s)
        return {"ok": not breaks, "entries": head[0] if head else 0, "head": head[1] if head else None,
                "breaks": [b.__dict__ for b in breaks]}

    def report_html(self, principal: Principal, lang: str = DEFAULT_LANGUAGE) -> str:
        """The auditor's report over the live log (read-only), in ``lang`` ("en" or "ur")."""
        principal.require(*REPORT_ROLES)
        breaks, bodies, digest = self._checked_live_log()
        with self.transaction() as s:
            head = matchlog.head(s)
        seal = bundle.seal_path(self.config)
        sealed = bundle.seal_covers(seal.read_bytes() if seal.is_file() else None, self._certificate_key(),
                                    self.config.station.id, head)
        audit = self.config.audit
        findings = analyse(bodies, self.config.station.id,
                           ReportSettings(self.config.station.timezone, audit.polling_hours,
                                          audit.min_seconds_per_voter, audit.exception_rate_factor))
        return render_html(findings, {"ok": not breaks, "breaks": [b.__dict__ for b in breaks], "warnings": [],
                                      "sealed": sealed, "roll_digest": digest}, lang)
