"""Which voter-reference key each log entry was written under, and which ballots a merge of several stations' logs
can compare (docs/roll-packages.md, "The voter-reference key").

A log entry names a voter by ``voter`` = HMAC(voter key, CNIC): equal only under the same key. The commission
delivers one key per election inside its roll packages; a station that installs it writes a ``voter_key_installed``
entry (details: ``key_id``, ``previous_key_id``, ``entries_with_voters_before``). So, in one station's log:

- entries after a ``voter_key_installed`` entry are under its ``key_id``, up to the next one;
- entries before the first one are under that entry's ``previous_key_id`` (the key the station made itself at
  ``station init``, or one installed by hand);
- in a log without such an entry the key is unknown (``None``): the station never received the commission's key.

Equal references can only come from the same key, so ballots are matched across every bundle by their reference;
what this module adds is the honest part: which ballots had a counterpart (another merged station that held the
same key) and which could not be compared with any other station at all.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

INSTALLED = "voter_key_installed"


def entry_key_ids(bodies: list[dict]) -> list[str | None]:
    """The voter-key id each entry (in log order) was written under; None when the log never says."""
    first = next((b for b in bodies if b.get("event") == INSTALLED), None)
    current = _details(first).get("previous_key_id") if first else None
    out = []
    for body in bodies:
        if body.get("event") == INSTALLED:
            current = _details(body).get("key_id")
        out.append(current)
    return out


def _details(body: dict | None) -> dict:
    details = (body or {}).get("details")
    return details if isinstance(details, dict) else {}


def compare_ballots(stations: Iterable[tuple[str, list[dict]]]) -> dict:
    """Over accepted bundles, given as (station id, verified bodies): the voters given a ballot at more than one
    station, and what could be compared.

    -> {"double_votes": [{"voter", "voter_key", "ballots": [{"station", "seq", "at"}]}], "voters_with_ballots",
        "voter_keys": [{"key_id", "stations", "ballots"}], "ballots_not_comparable", "ballots_key_unknown"}

    ``ballots_not_comparable``: ballots under a key that no other merged station held (a double vote among them
    cannot show); ``ballots_key_unknown``: ballots in logs that never recorded their key (compared by reference all
    the same: a match is still a double vote, but a miss proves nothing)."""
    ballots: dict[str, list[dict]] = defaultdict(list)
    held: dict[str | None, set[str]] = defaultdict(set)  # key id -> stations with entries under it
    counted: dict[str | None, int] = defaultdict(int)
    by_station_key: dict[tuple[str, str | None], int] = defaultdict(int)
    for station, bodies in stations:
        for body, key in zip(bodies, entry_key_ids(bodies)):
            held[key].add(station)
            if body.get("event") == "ballot_issued" and body.get("voter"):
                ballots[body["voter"]].append({"station": station, "seq": body["seq"], "at": body["at"],
                                               "voter_key": key})
                counted[key] += 1
                by_station_key[(station, key)] += 1
    double = [{"voter": voter, "voter_key": where[0]["voter_key"],
               "ballots": [{k: w[k] for k in ("station", "seq", "at")} for w in where]}
              for voter, where in sorted(ballots.items()) if len({w["station"] for w in where}) > 1]
    not_comparable = sum(n for (station, key), n in by_station_key.items()
                         if key is not None and not held[key] - {station})
    return {"double_votes": double, "voters_with_ballots": len(ballots),
            "voter_keys": [{"key_id": key, "stations": sorted(held[key]), "ballots": counted[key]}
                           for key in sorted(held, key=lambda k: (k is None, k or ""))],
            "ballots_not_comparable": not_comparable, "ballots_key_unknown": counted[None]}
