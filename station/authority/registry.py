"""Authority backends by name, as module and class strings (imported only when chosen), extended by the
``station.authority`` entry-point group (``name = "package.module:Class"``), as drivers/registry.py does for devices."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from station.authority.base import AuthorityClient
from station.authority.errors import AuthorityNotConfigured
from station.authority.settings import AuthoritySettings

ENTRY_POINT_GROUP = "station.authority"

BACKENDS: dict[str, tuple[str, str]] = {
    "none": ("station.authority.none", "NoAuthority"),
    "http": ("station.authority.http_client", "HttpAuthorityClient"),
}


def backends() -> dict[str, tuple[str, str]]:
    table = dict(BACKENDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module, _, cls = ep.value.partition(":")
        table[ep.name] = (module, cls)
    return table


def backend_class(name: str) -> type[AuthorityClient]:
    table = backends()
    if name not in table:
        raise AuthorityNotConfigured(f"unknown authority backend {name!r} (available: {', '.join(sorted(table))})")
    module_name, class_name = table[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AuthorityNotConfigured(f"authority backend {name!r} needs a library that is not installed: "
                                     f"{exc.name or exc}") from exc
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise AuthorityNotConfigured(f"authority backend {name!r}: {module_name} has no {class_name}") from None


def open_client(settings: AuthoritySettings) -> AuthorityClient:
    """The configured backend, built; a bad setting raises AuthorityNotConfigured naming it."""
    return backend_class(settings.backend)(settings)
