"""Roll search by CNIC (all or part) or by name in Urdu script or romanized, tolerant of the ways one name is typed."""
from __future__ import annotations

import re
import unicodedata

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from station.cnic import ascii_digits
from station.db.models import PollingStation, Voter
from station.errors import InvalidInput
from station.roll.records import VoterView

SEARCH_LIMIT = 50

# --- name normalisation ---------------------------------------------------------------------------------------------
# Urdu is typed with Arabic or Persian code points for the same letter (Arabic yeh/kaf/heh vs the Urdu ones), with or
# without diacritics, hamza forms and joiners; all of these fold to one letter so that any keyboard finds the name.
_URDU_FOLD = str.maketrans({
    "\u064a": "\u06cc", "\u0649": "\u06cc", "\u0626": "\u06cc",  # ي ى ئ -> ی
    "\u0643": "\u06a9",  # ك -> ک
    "\u0647": "\u06c1", "\u0629": "\u06c1", "\u06c3": "\u06c1", "\u06d5": "\u06c1",  # ه ة ۃ ە -> ہ
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",  # أ إ آ ٱ -> ا
    "\u0624": "\u0648",  # ؤ -> و
    "\u06d3": "\u06d2",  # ۓ -> ے
    "\u0640": None, "\u200c": None, "\u200d": None, "\u200f": None, "\u200e": None,  # tatweel, joiners, marks
})
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_CNIC_QUERY = re.compile(r"^[\d-]{3,15}$")


def normalise_urdu(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = _DIACRITICS.sub("", text).translate(_URDU_FOLD)
    return " ".join(_NOT_WORD.sub(" ", text).split())


def normalise_roman(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return " ".join(_NOT_WORD.sub(" ", text).split())


def roman_skeleton(text: str) -> str:
    """Spelling-tolerant key for romanized names: vowels after the first letter and repeated letters dropped, so
    Muhammad/Mohammad/Mohammed -> mhmd, Ahmed/Ahmad -> ahmd."""
    words = []
    for word in normalise_roman(text).split():
        head, tail = word[:1], re.sub(r"[aeiouy]", "", word[1:])
        words.append(re.sub(r"(.)\1+", r"\1", head + tail))
    return " ".join(words)


def search_roll(session: Session, polling_station: str, query: object, *, limit: int = SEARCH_LIMIT) -> list[VoterView]:
    """This station's roll by CNIC (all or part of the 13 digits, dashes optional) or by name, in Urdu script or
    romanized (the voter's or the father's/husband's name). Exact substring matches come before spelling variants."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("search: type a CNIC or a name")
    query = ascii_digits(query.strip())  # a CNIC typed on an Urdu keyboard
    if len(query) > 100:
        raise InvalidInput("search: at most 100 characters")
    limit = max(1, min(int(limit), 200))
    code = polling_station
    base = (select(Voter).join(Voter.polling_station).where(PollingStation.code == code)
            .options(selectinload(Voter.references), selectinload(Voter.polling_station)))
    if _CNIC_QUERY.match(query):
        digits = query.replace("-", "")
        if len(digits) < 3:
            raise InvalidInput("search: type at least 3 digits of the CNIC")
        rows = session.scalars(base.where(func.replace(Voter.cnic, "-", "").like(f"%{digits}%"))
                         .order_by(Voter.serial_number).limit(limit)).all()
        return [VoterView.of(v) for v in rows]
    rows = session.execute(select(Voter.id, Voter.name_en, Voter.name_ur, Voter.relative_name_en, Voter.relative_name_ur)
                     .join(Voter.polling_station).where(PollingStation.code == code)
                     .order_by(Voter.serial_number)).all()
    ranked: list[tuple[int, int]] = []
    if _ARABIC.search(query):
        wanted = normalise_urdu(query)
        for row in rows:
            if wanted and wanted in normalise_urdu(row.name_ur):
                ranked.append((0, row.id))
            elif wanted and wanted in normalise_urdu(row.relative_name_ur):
                ranked.append((1, row.id))
    else:
        wanted, skeleton = normalise_roman(query), roman_skeleton(query)
        if not wanted:
            raise InvalidInput("search: type a CNIC or a name")
        for row in rows:
            name, relative = normalise_roman(row.name_en), normalise_roman(row.relative_name_en)
            if wanted in name:
                ranked.append((0, row.id))
            elif wanted in relative:
                ranked.append((1, row.id))
            elif skeleton and skeleton in roman_skeleton(row.name_en):
                ranked.append((2, row.id))
            elif skeleton and skeleton in roman_skeleton(row.relative_name_en):
                ranked.append((3, row.id))
    ids = [voter_id for _, voter_id in sorted(ranked, key=lambda r: r[0])][:limit]
    if not ids:
        return []
    by_id = {v.id: v for v in session.scalars(base.where(Voter.id.in_(ids))).all()}
    return [VoterView.of(by_id[i]) for i in ids if i in by_id]
