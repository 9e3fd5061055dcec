"""A deterministic synthetic electoral roll: AJK-style records plus synthetic fingerprints for every voter.

Families share a family number, a father/husband name and an address; census blocks group families; polling
stations are male, female or combined, with booths of about 300 voters. Fingerprints come from the simulated
scanner's generator (``drivers.fingerprint.synthetic``): each voter's enrolled template is extracted from impression
0 of a master whose subject is ``roll-<seed>/<cnic>/<finger>``, the same subject the simulated scanner renders later.
"""
from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from station.config import FINGER_POSITIONS
from station.errors import InvalidInput
from station.roll.records import VoterRecord
from station.simulation.names import DISTRICTS, FAMILY_NAMES, FEMALE_GIVEN, MALE_GIVEN

BOOTH_SIZE = 300


@dataclass(frozen=True)
class SynthStation:
    code: str
    name_en: str
    name_ur: str
    kind: str
    booths: int


@dataclass(frozen=True)
class SynthRoll:
    seed: int
    constituency_code: str
    constituency_en: str
    constituency_ur: str
    district: str
    stations: tuple[SynthStation, ...]
    voters: tuple[VoterRecord, ...]


def finger_subject(seed: int, cnic: str, finger: str) -> str:
    """The simulated scanner's subject for one voter's finger (shared by the roll builder and the simulation API)."""
    return f"roll-{seed}/{cnic}/{finger}"


def person_finger_subject(person: str, finger: str) -> str:
    """The simulated scanner's subject for a finger of a simulated person (registration: one person, two CNICs)."""
    return f"person/{person.strip()}/{finger}"


def check_presentation(finger: object, quality: object) -> None:
    """What the simulation API may ask the scanner to present; InvalidInput naming the allowed values otherwise."""
    from drivers.fingerprint.synthetic import QUALITY_PROFILES

    if finger not in FINGER_POSITIONS:
        raise InvalidInput(f"unknown finger {finger!r}; use one of: {', '.join(FINGER_POSITIONS)}")
    if quality not in QUALITY_PROFILES:
        raise InvalidInput(f"unknown quality {quality!r}; use one of: {', '.join(QUALITY_PROFILES)}")


def _cnic(rng: random.Random, prefix: str, gender: str, used: set[str]) -> str:
    while True:
        last = rng.choice((1, 3, 5, 7, 9) if gender == "male" else (0, 2, 4, 6, 8))
        cnic = f"{prefix}-{rng.randrange(10**6, 10**7)}-{last}"
        if cnic not in used:
            used.add(cnic)
            return cnic


def build_roll(voters: int, seed: int, polling_station: str = "PS-001") -> SynthRoll:
    """Roll of about ``voters`` voters in one constituency; ``polling_station`` is the first station's code."""
    if voters < 1:
        raise ValueError("a roll needs at least one voter")
    rng = random.Random(seed)
    district, district_ur, prefix, villages = DISTRICTS[seed % len(DISTRICTS)]
    number = 1 + seed % 45
    n_stations = max(2, math.ceil(voters / 250))
    kinds = ["combined", "male", "female"]
    stations = []
    for i in range(n_stations):
        village, village_ur = villages[i % len(villages)]
        kind = kinds[i % 3] if n_stations >= 3 else "combined"
        code = polling_station if i == 0 else f"PS-{i + 1:03d}"
        stations.append((code, f"Government School {village} ({kind})", f"گورنمنٹ سکول {village_ur}", kind, village, village_ur))
    people: list[dict] = []
    used: set[str] = set()
    family_no = 0
    while len(people) < voters:
        family_no += 1
        fam_en, fam_ur = rng.choice(FAMILY_NAMES)
        station_idx = rng.randrange(n_stations)
        village, village_ur = stations[station_idx][4], stations[station_idx][5]
        block = f"{int(prefix[-3:]) * 100 + station_idx * 10 + family_no % 7:06d}"
        house = rng.randrange(1, 400)
        address_en, address_ur = f"House {house}, Mohalla {fam_en}, {village}, {district}", f"مکان نمبر {house}، محلہ {fam_ur}، {village_ur}، {district_ur}"
        father_en, father_ur = rng.choice(MALE_GIVEN)
        father_en, father_ur = f"{father_en} {fam_en}", f"{father_ur} {fam_ur}"
        head_born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 30))
        grandfather_en, grandfather_ur = rng.choice(MALE_GIVEN)
        members = [("male", father_en, father_ur, "father", f"Late {grandfather_en}", f"مرحوم {grandfather_ur}", head_born)]
        wife_en, wife_ur = rng.choice(FEMALE_GIVEN)
        members.append(("female", wife_en, wife_ur, "husband", father_en, father_ur, head_born + dt.timedelta(days=rng.randrange(365, 365 * 6))))
        for _ in range(rng.randrange(0, 4)):
            gender = rng.choice(("male", "female"))
            given_en, given_ur = rng.choice(MALE_GIVEN if gender == "male" else FEMALE_GIVEN)
            if gender == "male":
                given_en, given_ur = f"{given_en} {fam_en}", f"{given_ur} {fam_ur}"
            born = head_born + dt.timedelta(days=rng.randrange(365 * 20, 365 * 30))
            born = min(born, dt.date(2007, 12, 31))
            members.append((gender, given_en, given_ur, "father", father_en, father_ur, born))
        for gender, name_en, name_ur, relation, rel_en, rel_ur, born in members:
            if len(people) >= voters:
                break
            candidates = [i for i, s in enumerate(stations) if s[3] in ("combined", gender)]
            idx = station_idx if station_idx in candidates else candidates[family_no % len(candidates)]
            people.append(dict(
                cnic=_cnic(rng, prefix, gender, used), name_en=name_en, name_ur=name_ur, relation=relation,
                relative_name_en=rel_en, relative_name_ur=rel_ur, gender=gender, date_of_birth=born,
                census_block=block, family_number=f"{family_no:05d}", address_en=address_en,
                address_ur=address_ur, station=idx))
    # Rolls are printed by census block and family; serials run per polling station.
    people.sort(key=lambda p: (p["station"], p["census_block"], p["family_number"], p["date_of_birth"]))
    counts = [sum(1 for p in people if p["station"] == i) for i in range(n_stations)]
    booths = [max(1, math.ceil(c / BOOTH_SIZE)) for c in counts]
    serials = [0] * n_stations
    out = []
    for p in people:
        i = p.pop("station")
        serials[i] += 1
        booth = 1 + (serials[i] - 1) * booths[i] // max(counts[i], 1)
        out.append(VoterRecord(polling_station=stations[i][0], serial_number=serials[i], booth=booth, **p))
    return SynthRoll(
        seed=seed, constituency_code=f"LA-{number}", constituency_en=f"LA-{number} {district}",
        constituency_ur=f"ایل اے-{number} {district_ur}", district=district,
        stations=tuple(SynthStation(s[0], s[1], s[2], s[3], booths[i]) for i, s in enumerate(stations)),
        voters=tuple(out),
    )
