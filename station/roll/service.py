"""The roll as the officers and registration staff see it: one voter, a listing, search, the roll's polling stations
and candidates' entries. Each call checks the caller's role, runs one short transaction and returns frozen views."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from station.db.models import PollingStation, Voter
from station.db.transactions import TransactionFactory
from station.roll.records import VoterView
from station.roll import store
from station.roll.search import SEARCH_LIMIT, search_roll
from station.security.roles import OFFICERS, REGISTRAR_ROLES, REGISTRATION_STAFF
from station.security.users import Principal


class RollService:
    def __init__(self, *, transaction: TransactionFactory, polling_station: str) -> None:
        self.transaction = transaction
        self.polling_station = polling_station  # the code of the polling station whose roll this station serves

    def voter(self, principal: Principal, cnic: object) -> VoterView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            return store.find_voter(s, cnic)

    def list_voters(self, limit: int | None = None, polling_station: str | None = None) -> list[VoterView]:
        """The roll (CLI and tests: no principal; the API has no listing)."""
        with self.transaction() as s:
            return store.list_voters(s, limit=limit, polling_station=polling_station)

    def search(self, principal: Principal, query: object, *, limit: int = SEARCH_LIMIT) -> list[VoterView]:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            return search_roll(s, self.polling_station, query, limit=limit)

    def polling_stations(self, principal: Principal) -> list[dict]:
        """The roll's polling stations (code, names, kind), this station's own first: the registration form's choices."""
        principal.require(*REGISTRATION_STAFF)
        with self.transaction() as s:
            rows = s.execute(select(PollingStation.code, PollingStation.name_en, PollingStation.name_ur,
                                    PollingStation.kind).order_by(PollingStation.code)).all()
        out = [{"code": r.code, "name_en": r.name_en, "name_ur": r.name_ur, "kind": r.kind,
                "own": r.code == self.polling_station} for r in rows]
        return sorted(out, key=lambda r: not r["own"])

    def entries(self, principal: Principal, cnics: list[str]) -> dict[str, VoterView]:
        """The roll entries of these CNICs (any polling station, any status), for the registrar comparing a registrant
        with the duplicate candidates; CNICs not on the roll are left out."""
        principal.require(*REGISTRAR_ROLES)
        wanted = [c for c in dict.fromkeys(cnics) if isinstance(c, str)][:200]
        if not wanted:
            return {}
        with self.transaction() as s:
            rows = s.scalars(select(Voter).where(Voter.cnic.in_(wanted))
                             .options(selectinload(Voter.references), selectinload(Voter.polling_station))).all()
            return {v.cnic: VoterView.of(v) for v in rows}
