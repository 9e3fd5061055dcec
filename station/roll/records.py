"""The voter, written once: the roll's fields (``TEXT_FIELDS`` and the date of birth), ``VoterRecord`` (one voter as the
roll holds it: what a package carries, what ``add_voter`` takes, what the synthetic roll generates) and ``VoterView``
(the frozen view the station hands to its callers, with the polling station, status and enrolled biometrics)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import asdict, dataclass

from station.cnic import parse_cnic
from station.db.models import Voter
from station.errors import InvalidInput

GENDERS = ("male", "female")
VOTING_AGE, OLDEST_AGE = 18, 130  # years: a date of birth outside them is a typing error, not a voter
_DATE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")  # YYYY-MM-DD in ASCII digits (fromisoformat alone also reads
#                                                   19800101 and week dates such as 1980-W01-1)
RELATIONS = ("father", "husband")
TEXT_FIELDS = ("name_en", "name_ur", "relation", "relative_name_en", "relative_name_ur", "gender", "census_block",
               "family_number", "address_en", "address_ur")
TEXT_LIMITS = {**{name: Voter.__table__.c[name].type.length for name in TEXT_FIELDS}, "polling_station": 32}


def voter_date_of_birth(text: str) -> dt.date:
    """A voter's date of birth typed as YYYY-MM-DD (registration, a roll correction); InvalidInput when it is not a
    date so written, or not of someone of voting age."""
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        born = dt.date.fromisoformat(text)
    except (ValueError, TypeError):
        raise InvalidInput("date_of_birth must be a date as YYYY-MM-DD") from None
    if born > dt.date.today():
        raise InvalidInput(f"date_of_birth {born} is in the future")
    if not VOTING_AGE <= (dt.date.today() - born).days / 365.2425 < OLDEST_AGE:
        raise InvalidInput(f"date_of_birth {born}: a voter must be at least {VOTING_AGE} years old")
    return born


@dataclass(frozen=True)
class VoterRecord:
    """One voter as the roll holds it (what a package carries and what ``add_voter`` takes). ``serial_number`` and
    ``booth`` may be None when adding: the next serial of the polling station and its last booth are given."""

    cnic: str
    name_en: str
    name_ur: str
    relation: str  # father | husband
    relative_name_en: str
    relative_name_ur: str
    gender: str  # male | female
    date_of_birth: dt.date
    census_block: str
    family_number: str
    address_en: str
    address_ur: str
    polling_station: str  # polling station code
    serial_number: int | None = None
    booth: int | None = None

    def validated(self) -> "VoterRecord":
        """The same record with the CNIC in canonical form; InvalidInput naming the first bad field."""
        cnic = parse_cnic(self.cnic)
        for name, limit in TEXT_LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, str):
                raise InvalidInput(f"voter {cnic}: {name} must be text")
            if len(value) > limit:
                raise InvalidInput(f"voter {cnic}: {name} is longer than {limit} characters")
        if not self.name_en.strip():
            raise InvalidInput(f"voter {cnic}: name_en is empty")
        if self.gender not in GENDERS:
            raise InvalidInput(f"voter {cnic}: gender must be male or female, not {self.gender!r}")
        if self.relation not in RELATIONS:
            raise InvalidInput(f"voter {cnic}: relation must be father or husband, not {self.relation!r}")
        if not isinstance(self.date_of_birth, dt.date) or isinstance(self.date_of_birth, dt.datetime):
            raise InvalidInput(f"voter {cnic}: date_of_birth must be a date")
        for name in ("serial_number", "booth"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 10**9):
                raise InvalidInput(f"voter {cnic}: {name} must be a positive integer")
        return self if cnic == self.cnic else dataclasses.replace(self, cnic=cnic)

    def columns(self) -> dict:
        """The voters-table values of this record (without the polling station id)."""
        return {"cnic": self.cnic, **{f: getattr(self, f) for f in TEXT_FIELDS}, "date_of_birth": self.date_of_birth,
                "serial_number": self.serial_number, "booth": self.booth}


def record_of(voter: Voter, polling_station: str) -> VoterRecord:
    return VoterRecord(cnic=voter.cnic, **{f: getattr(voter, f) for f in TEXT_FIELDS},
                       date_of_birth=voter.date_of_birth, polling_station=polling_station,
                       serial_number=voter.serial_number, booth=voter.booth)



@dataclass(frozen=True)
class VoterView:
    cnic: str
    name_en: str
    name_ur: str
    relation: str
    relative_name_en: str
    relative_name_ur: str
    gender: str
    date_of_birth: str
    census_block: str
    family_number: str
    address_en: str
    address_ur: str
    serial_number: int
    polling_station: str
    polling_station_name: str
    booth: int
    status: str
    voted: bool
    fingers: tuple[str, ...]
    has_face: bool

    @classmethod
    def of(cls, voter: Voter) -> "VoterView":
        refs = voter.references
        return cls(
            cnic=voter.cnic, name_en=voter.name_en, name_ur=voter.name_ur, relation=voter.relation,
            relative_name_en=voter.relative_name_en, relative_name_ur=voter.relative_name_ur, gender=voter.gender,
            date_of_birth=voter.date_of_birth.isoformat(), census_block=voter.census_block,
            family_number=voter.family_number, address_en=voter.address_en, address_ur=voter.address_ur,
            serial_number=voter.serial_number, polling_station=voter.polling_station.code,
            polling_station_name=voter.polling_station.name_en, booth=voter.booth, status=voter.status,
            voted=voter.voted_at is not None,
            fingers=tuple(r.position for r in refs if r.modality == "fingerprint"),
            has_face=any(r.modality == "face" for r in refs),
        )

    def to_dict(self) -> dict:
        return asdict(self)
