"""Technician tools: list the configured devices, test one (captures, timings, quality), capture to a file, and
read a CNIC card with a report of every check."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from drivers.errors import DeviceError
from matching.errors import MatchingError
from matching.engine import FingerprintEngine

from station.devices.opener import KINDS, DeviceOpener
from station.errors import DeviceUnavailable, InvalidInput, StationError
from station.polling.cards import CardReader
from station.security.files import write_atomically
from station.security.roles import DEVICE_ROLES
from station.security.users import Principal

# Gives a simulated device something to capture when nothing was presented (a test subject, a test card); built by
# runtime from station.simulation when the device backends are simulated.
PrepareSimulated = Callable[[str, object], None]


class TechnicianService:
    """The technician's tools over the configured devices; the ``screen_*`` methods check the caller's role (API and
    UI), the others are for the CLI run by the station's own administrator."""

    def __init__(self, *, devices: DeviceOpener, cards: CardReader, matcher: FingerprintEngine,
                 simulation_api: bool, prepare_simulated: PrepareSimulated | None = None) -> None:
        self.devices = devices
        self.cards = cards
        self.matcher = matcher
        self.simulation_api = simulation_api
        self.prepare_simulated = prepare_simulated

    def screen_devices(self, principal: Principal) -> list[dict]:
        """Every configured device with its status; simulated ones also list their pending scripted faults."""
        principal.require(*DEVICE_ROLES)
        rows = self.list_devices()
        for row in rows:
            row["simulated"] = False
            row["pending_faults"] = []
            if row.get("error") is None:
                device = self.devices.open(row["kind"])
                if hasattr(device, "inject_fault"):
                    row["simulated"] = bool(self.simulation_api)
                    row["pending_faults"] = list(device.pending_faults)
        return rows

    def screen_test(self, principal: Principal, kind: object, captures: int = 1) -> dict:
        """One or a few test captures on a device, with timings and quality."""
        principal.require(*DEVICE_ROLES)
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
        return self.test_device(kind, captures=max(1, min(int(captures), 5)))

    def list_devices(self) -> list[dict]:
        rows = []
        for kind in KINDS:
            backend = self.devices.backend(kind)
            try:
                info = self.devices.open(kind).info()
                rows.append({"kind": kind, "backend": backend, "status": info.status.value, "vendor": info.vendor,
                             "model": info.model, "serial": info.serial, "firmware": info.firmware, "error": None})
            except DeviceUnavailable as exc:
                rows.append({"kind": kind, "backend": backend, "status": "Unavailable", "serial": None,
                             "error": str(exc)})
            failure = self.devices.last_failure(kind)
            rows[-1]["last_error"] = failure.to_dict() if failure else None
        return rows

    def _prepare_simulated(self, kind: str, device) -> None:
        if self.prepare_simulated is not None:
            self.prepare_simulated(kind, device)

    def test_device(self, kind: str, *, captures: int = 5, fault: str | None = None) -> dict:
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
        device = self.devices.open(kind)
        if fault:
            if not hasattr(device, "inject_fault"):
                raise InvalidInput(f"the {kind} backend {device.backend!r} is not simulated: no fault injection")
            try:
                device.inject_fault(fault)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        self._prepare_simulated(kind, device)
        timings, qualities, errors = [], [], []
        for _ in range(captures):
            started = time.perf_counter()
            try:
                qualities.append(self._capture_once(kind, device))
                timings.append((time.perf_counter() - started) * 1000)
            except (DeviceError, MatchingError, StationError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                self.devices.failed(kind, exc)
        info = device.info()
        return {
            "kind": kind, "backend": info.backend, "serial": info.serial, "status": info.status.value,
            "captures": captures, "failures": len(errors), "errors": errors,
            "ms": ({"p50": round(float(np.median(timings)), 1), "max": round(float(max(timings)), 1)}
                   if timings else None),
            "quality": qualities,
        }

    def _capture_once(self, kind: str, device) -> object:
        if kind == "fingerprint":
            capture = device.capture("right_thumb")
            template = self.matcher.extract(capture.image)
            return {"nfiq2": self.matcher.quality(capture.image), "minutiae": template.minutiae_count,
                    "capture_ms": round(capture.capture_ms, 1)}
        if kind == "camera":
            from drivers.camera.guidance import assess_frame

            frame = device.capture()
            guidance = assess_frame(frame.image)
            return {"brightness": guidance.brightness, "sharpness": guidance.sharpness, "issues": list(guidance.issues)}
        if kind == "power":
            return device.read().to_dict()
        read = self.cards.read()
        return {"passive_auth": read.passive_auth, "active_auth": read.active_auth, "read_ms": round(read.read_ms, 1)}

    def capture_to_file(self, kind: str, out: str) -> dict:
        import cv2

        device = self.devices.open(kind)
        self._prepare_simulated(kind, device)
        try:
            if kind == "fingerprint":
                capture = device.capture("right_thumb")
                image, ms = capture.image, capture.capture_ms
            else:
                frame = device.capture()
                image, ms = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), frame.capture_ms
        except DeviceError as exc:
            raise DeviceUnavailable(str(exc)) from None
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise StationError(f"could not encode the capture for {out}")
        write_atomically(Path(out), png.tobytes())  # 0600: a raw biometric image is its user's alone
        return {"kind": kind, "out": out, "shape": list(image.shape), "capture_ms": round(ms, 1)}

    def card_report(self) -> tuple[dict, str | None]:
        """Read the card and report each check as "ok" or its failure; returns (report, error or None)."""
        from drivers.card.errors import AlteredFile, BadSignature, CardError, CloneSuspected, UnknownIssuer

        report: dict = {"cnic": None, "passive_auth": None, "active_auth": None}
        try:
            read = self.cards.read_checked()
        except (UnknownIssuer, BadSignature, AlteredFile) as exc:
            report["passive_auth"] = str(exc)
            return report, str(exc)
        except CloneSuspected as exc:
            report.update(passive_auth="ok", active_auth=str(exc))
            return report, str(exc)
        except (CardError, DeviceError) as exc:
            report["error"] = str(exc)
            return report, str(exc)
        h = read.holder
        report.update(cnic=h.cnic, passive_auth=read.passive_auth, active_auth=read.active_auth, issuer=read.issuer,
                      name_en=h.name_en, name_ur=h.name_ur, relation=h.relation, relative_name_en=h.relative_name_en,
                      relative_name_ur=h.relative_name_ur, gender=h.gender, date_of_birth=h.date_of_birth.isoformat(),
                      issue_date=h.issue_date.isoformat(), expiry_date=h.expiry_date.isoformat(),
                      card_number=h.card_number, fingerprints=[f for f, _ in read.fingerprints],
                      face_image=read.face_jpeg is not None, read_ms=round(read.read_ms, 1))
        try:
            report["warnings"] = self.cards.warnings(read)
        except StationError as exc:
            return report, str(exc)
        return report, None
