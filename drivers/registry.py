"""Backend tables per device kind, extended by the ``station.drivers`` entry-point group.

A backend is named ``module:Class`` as strings so that a vendor library is imported only when its backend is chosen.
An outside package adds a backend with an entry point named ``KIND.BACKEND`` (e.g. ``fingerprint.acme``) whose
value is ``package.module:Class``.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from .base import Device
from .errors import DeviceNotAvailable

ENTRY_POINT_GROUP = "station.drivers"

BACKENDS: dict[str, dict[str, tuple[str, str]]] = {
    "fingerprint": {
        "sim": ("drivers.fingerprint.simulated", "SimulatedFingerprintScanner"),
        "mosip-sbi": ("drivers.fingerprint.sbi", "SbiFingerprintScanner"),
        "libfprint": ("drivers.fingerprint.libfprint", "LibfprintFingerprintScanner"),
    },
    "card": {
        "pcsc": ("drivers.card.pcsc", "PcscCardReader"),
        "sim": ("drivers.card.simulated", "SimulatedCardReader"),
    },
    "camera": {
        "sim": ("drivers.camera.simulated", "SimulatedCamera"),
        "opencv": ("drivers.camera.opencv", "OpenCVCamera"),
    },
    "power": {
        "sim": ("drivers.power.simulated", "SimulatedPowerSource"),
        "upower": ("drivers.power.upower", "UPowerSource"),
    },
}


def backends(kind: str) -> dict[str, tuple[str, str]]:
    """Built-in backends of a kind plus those registered by installed packages."""
    table = dict(BACKENDS.get(kind, {}))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep_kind, _, name = ep.name.partition(".")
        if ep_kind == kind and name:
            module, _, cls = ep.value.partition(":")
            table[name] = (module, cls)
    return table


def backend_class(kind: str, name: str) -> type[Device]:
    table = backends(kind)
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise DeviceNotAvailable(f"unknown {kind} backend {name!r} (available: {known})")
    module_name, class_name = table[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DeviceNotAvailable(f"{kind} backend {name!r} needs a library that is not installed: {exc.name or exc}") from exc
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise DeviceNotAvailable(f"{kind} backend {name!r}: {module_name} has no {class_name}") from None


def open_device(kind: str, name: str, **options: Any) -> Device:
    """Import the chosen backend and open it; any failure is a DeviceNotAvailable naming the backend."""
    return backend_class(kind, name)(**options)
