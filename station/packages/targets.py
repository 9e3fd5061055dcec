"""The commission's registry of target stations: station id -> polling station and the station's package key."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from station.errors import Conflict, InvalidInput, NotFound
from station.db.models import PackageTarget, PollingStation, utcnow
from station.packages.crypto import X25519PublicKey, key_id, package_public_from_raw, raw_public


@dataclass(frozen=True)
class Target:
    station_id: str
    polling_station: str
    public_key: X25519PublicKey
    key_id: str

    def to_dict(self) -> dict:
        return {"station": self.station_id, "polling_station": self.polling_station, "key_id": self.key_id}


def _target(row: PackageTarget) -> Target:
    return Target(row.station_id, row.polling_station, package_public_from_raw(row.public_key), row.key_id)


def add_target(session: Session, station_id: str, polling_station: str, public_key: X25519PublicKey, *,
               replace: bool = False) -> Target:
    """Register (or, with ``replace``, re-register) a station that receives packages for ``polling_station``."""
    station_id = station_id.strip()
    if not station_id or len(station_id) > 64:
        raise InvalidInput("a station id is 1 to 64 characters")
    if session.scalar(select(PollingStation.id).where(PollingStation.code == polling_station)) is None:
        raise NotFound(f"no polling station {polling_station!r} in the commission's polling scheme")
    row = session.get(PackageTarget, station_id)
    if row is not None and not replace:
        raise Conflict(f"station {station_id} is already registered (polling station {row.polling_station}, key "
                       f"{row.key_id}); use --replace to change it")
    values = {"polling_station": polling_station, "public_key": raw_public(public_key).hex(),
              "key_id": key_id(public_key), "added_at": utcnow()}
    if row is None:
        row = PackageTarget(station_id=station_id, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.flush()
    return _target(row)


def get_target(session: Session, station_id: str) -> Target:
    row = session.get(PackageTarget, station_id)
    if row is None:
        raise NotFound(f"no station {station_id!r} in the commission's registry: add it with "
                       f"`station roll add-station {station_id} --key FILE --polling-station CODE`")
    return _target(row)


def list_targets(session: Session) -> list[Target]:
    return [_target(r) for r in session.scalars(select(PackageTarget).order_by(PackageTarget.station_id))]
