"""Technician tools: list the configured devices, test one (captures, timings, quality), capture to a file, and
read a CNIC card with a report of every check."""
from __future__ import annotations

import time

import numpy as np

from drivers.errors import DeviceError
from matching.errors import MatchingError

from station.polling import cards
from station.errors import DeviceUnavailable, InvalidInput, StationError

KINDS = ("card", "fingerprint", "camera")


def list_devices(station) -> list[dict]:
    rows = []
    for kind in KINDS:
        backend = getattr(station.config.devices, kind)
        try:
            info = station.device(kind).info()
            rows.append({"kind": kind, "backend": backend, "status": info.status.value, "vendor": info.vendor,
                         "model": info.model, "serial": info.serial, "firmware": info.firmware, "error": None})
        except DeviceUnavailable as exc:
            rows.append({"kind": kind, "backend": backend, "status": "Unavailable", "serial": None, "error": str(exc)})
    return rows


def _prepare_simulated(station, kind: str, device) -> None:
    """Give a simulated device something to capture when nothing was presented (a test subject, a test card)."""
    if kind == "fingerprint" and hasattr(device, "present"):
        device.present("technician-test/right_thumb")
    elif kind == "camera" and hasattr(device, "present_image"):
        import cv2

        rng = np.random.default_rng(0)
        ok, png = cv2.imencode(".png", rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
        device.present_image(png.tobytes())
    elif kind == "card" and hasattr(device, "insert"):
        voters = station.list_voters(limit=1)
        if not voters:
            raise StationError("the simulated card reader test needs a roll (station roll synth) to issue a test card")
        device.insert(station.voter_card(voters[0].cnic))


def test_device(station, kind: str, *, captures: int = 5, fault: str | None = None) -> dict:
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    device = station.device(kind)
    if fault:
        if not hasattr(device, "inject_fault"):
            raise InvalidInput(f"the {kind} backend {device.backend!r} is not simulated: no fault injection")
        try:
            device.inject_fault(fault)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    _prepare_simulated(station, kind, device)
    timings, qualities, errors = [], [], []
    for _ in range(captures):
        started = time.perf_counter()
        try:
            qualities.append(_capture_once(station, kind, device))
            timings.append((time.perf_counter() - started) * 1000)
        except (DeviceError, MatchingError, StationError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    info = device.info()
    return {
        "kind": kind, "backend": info.backend, "serial": info.serial, "status": info.status.value,
        "captures": captures, "failures": len(errors), "errors": errors,
        "ms": {"p50": round(float(np.median(timings)), 1), "max": round(float(max(timings)), 1)} if timings else None,
        "quality": qualities,
    }


def _capture_once(station, kind: str, device) -> object:
    if kind == "fingerprint":
        capture = device.capture("right_thumb")
        template = station.fingerprint_matcher.extract(capture.image)
        return {"nfiq2": template.quality, "minutiae": template.minutiae_count, "capture_ms": round(capture.capture_ms, 1)}
    if kind == "camera":
        from drivers.camera.guidance import assess_frame

        frame = device.capture()
        guidance = assess_frame(frame.image)
        return {"brightness": guidance.brightness, "sharpness": guidance.sharpness, "issues": list(guidance.issues)}
    read = device.read_card(trusted_issuers=cards.trusted_issuers(station.config),
                            timeout_s=station.config.card.read_timeout_s)
    return {"passive_auth": read.passive_auth, "active_auth": read.active_auth, "read_ms": round(read.read_ms, 1)}


def capture_to_file(station, kind: str, out: str) -> dict:
    import cv2

    device = station.device(kind)
    _prepare_simulated(station, kind, device)
    try:
        if kind == "fingerprint":
            capture = device.capture("right_thumb")
            image, ms = capture.image, capture.capture_ms
        else:
            frame = device.capture()
            image, ms = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), frame.capture_ms
    except DeviceError as exc:
        raise DeviceUnavailable(str(exc)) from None
    if not cv2.imwrite(out, image):
        raise StationError(f"could not write {out}")
    return {"kind": kind, "out": out, "shape": list(image.shape), "capture_ms": round(ms, 1)}


def card_report(station) -> tuple[dict, str | None]:
    """Read the card and report each check as "ok" or its failure; returns (report, error or None)."""
    from drivers.card.errors import AlteredFile, BadSignature, CardError, CloneSuspected, UnknownIssuer

    report: dict = {"cnic": None, "passive_auth": None, "active_auth": None}
    try:
        read = station.device("card").read_card(trusted_issuers=cards.trusted_issuers(station.config),
                                                timeout_s=station.config.card.read_timeout_s,
                                                reader=station.config.devices.card_reader or None)
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
        report["warnings"] = cards.card_warnings(read, station.config)
    except StationError as exc:
        return report, str(exc)
    return report, None
