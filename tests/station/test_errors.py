"""station/errors.py draws the station's one error tree: every exception class defined in station/ derives from
StationError and is named in the drawing (the sub-trees of authority and central in their own errors modules)."""
import importlib
import pkgutil
import re

import station
from station import errors


def station_exceptions() -> dict[str, type]:
    found = {}
    for module in pkgutil.walk_packages(station.__path__, "station."):
        if module.name.endswith("__main__"):
            continue
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.name:
                found[f"{module.name}.{name}"] = value
    return found


def test_every_station_exception_is_in_the_tree():
    found = station_exceptions()
    outside = sorted(q for q, cls in found.items() if not issubclass(cls, errors.StationError))
    assert not outside
    drawn = set(re.findall(r"\+-- (\w+)", errors.__doc__))
    for module in ("station.authority.errors", "station.central.errors"):
        doc = importlib.import_module(module).__doc__ or ""
        drawn |= set(re.findall(r"\b([A-Z]\w+(?:Error|Rejected|Invalid|Untrusted|Timeout|Unavailable|Configured|Answer))\b", doc))
    missing = sorted(q for q in found if q.rsplit(".", 1)[1] not in drawn | {"StationError"})
    assert not missing  # a class the drawing does not name


def test_the_drawing_names_only_classes_that_exist():
    names = {q.rsplit(".", 1)[1] for q in station_exceptions()}
    drawn = set(re.findall(r"\+-- (\w+)", errors.__doc__))
    assert drawn <= names
