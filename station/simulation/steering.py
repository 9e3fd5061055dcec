"""Steering the simulated devices from outside (the simulated profile's /api/sim/* and the technician's tests), in
the manner of MOSIP's mock device admin endpoints: what the scanner presents next, what the camera sees, which
virtual card is in the reader, which faults come next. Refused when the profile turns the simulation API off."""
from __future__ import annotations

import base64
import binascii
import threading

import numpy as np

from drivers.errors import DeviceError
from station.cnic import parse_cnic
from station.config import Config
from station.db.transactions import TransactionFactory
from station.devices.opener import DeviceOpener
from station.errors import Conflict, DeviceUnavailable, InvalidInput, NotFound, StationError
from station.roll import store as roll
from station.security.keys import TemplateCipher, template_context
from station.security.roles import SIM_ROLES
from station.security.users import Principal
from station.simulation.cards import virtual_card
from station.simulation.roll import check_presentation, finger_subject, person_finger_subject

FAULT_KINDS = ("fingerprint", "camera", "card", "power")


class DeviceSteering:
    def __init__(self, *, config: Config, transaction: TransactionFactory, devices: DeviceOpener,
                 cipher: TemplateCipher) -> None:
        self.config = config  # the test issuer lives in STATION_HOME; fingers and the API switch come from it
        self.transaction = transaction
        self.devices = devices
        self.cipher = cipher
        self._face_probe_index: dict[str, int] = {}  # which demo photo the simulated camera shows next, per voter
        self._lock = threading.Lock()

    def simulated(self, principal: Principal, kind: str):
        principal.require(*SIM_ROLES)
        if not self.config.devices.simulation_api:
            raise NotFound("the simulation API is off in this profile")
        device = self.devices.open(kind)
        if not hasattr(device, "inject_fault"):
            raise Conflict(f"the {kind} backend {device.backend!r} is not simulated")
        return device

    def present_fingerprint(self, principal: Principal, cnic: object, finger: object, quality: object = "normal") -> dict:
        scanner = self.simulated(principal, "fingerprint")
        cnic = parse_cnic(cnic)
        finger = finger or self.config.fingerprint.fingers[0]
        check_presentation(finger, quality)
        with self.transaction() as s:
            seed = roll.get_meta(s, "synthetic_roll_seed") or "0"
        scanner.present(finger_subject(int(seed), cnic, finger), quality=quality)
        return {"presented": {"cnic": cnic, "finger": finger, "quality": quality}}

    def present_person_finger(self, principal: Principal, person: object, finger: object,
                              quality: object = "normal") -> dict:
        """Present a finger of a simulated PERSON (not of a CNIC): one person can then register under two CNICs."""
        scanner = self.simulated(principal, "fingerprint")
        if not isinstance(person, str) or not person.strip() or len(person) > 64:
            raise InvalidInput("person must be a short string naming the simulated person")
        check_presentation(finger, quality)
        scanner.present(person_finger_subject(person, finger), quality=quality)
        return {"presented": {"person": person, "finger": finger, "quality": quality}}

    def present_face(self, principal: Principal, cnic: object = None, image_base64: object = None) -> dict:
        camera = self.simulated(principal, "camera")
        if image_base64 is not None:
            if not isinstance(image_base64, str):
                raise InvalidInput("image must be a base64 string")
            try:
                camera.present_image(base64.b64decode(image_base64, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise InvalidInput(f"image: {exc}") from None
            return {"presented": {"image": True}}
        cnic = parse_cnic(cnic)
        with self.transaction() as s:
            faces = roll.get_json_meta(s, "sim_faces").get(cnic)
        if not faces or not faces["probes"]:
            raise InvalidInput(f"no demo photos for {cnic}: build the roll with --faces DIR to use the face path")
        with self._lock:
            index = self._face_probe_index.get(cnic, 0)
            self._face_probe_index[cnic] = index + 1
        camera.present_file(faces["probes"][index % len(faces["probes"])])
        return {"presented": {"cnic": cnic, "identity": faces["identity"]}}

    def voter_card(self, cnic: object, tamper: str | None = None) -> bytes:
        """A virtual CNIC card for a voter of this station's roll, signed by the test issuer (demo and tests)."""
        cnic = parse_cnic(cnic)
        with self.transaction() as s:
            voter = roll.find_voter(s, cnic)
            fingerprints = [(ref.position, self.cipher.decrypt(ref.ciphertext,
                                                               template_context(cnic, ref.modality, ref.position)))
                            for ref in roll.references(s, cnic, "fingerprint")]
        return virtual_card(self.config, voter, fingerprints, tamper=tamper)

    def insert_card(self, principal: Principal, cnic: object, tamper: object = None) -> dict:
        reader = self.simulated(principal, "card")
        if tamper is not None and not isinstance(tamper, str):
            raise InvalidInput("tamper must be a string")
        reader.insert(self.voter_card(cnic, tamper))
        return {"inserted": {"cnic": parse_cnic(cnic), "tamper": tamper}}

    def remove_card(self, principal: Principal) -> dict:
        self.simulated(principal, "card").remove()
        return {"removed": True}

    def set_power(self, principal: Principal, on_battery: object = None, percentage: object = None) -> dict:
        """Pull or restore the simulated mains, and/or set the simulated battery's charge (0-100). A scripted fault is
        DeviceUnavailable (503, the operator may retry) and the battery is left as it was."""
        if on_battery is not None and not isinstance(on_battery, bool):
            raise InvalidInput("on_battery must be true or false")
        if percentage is not None and (isinstance(percentage, bool) or not isinstance(percentage, (int, float))):
            raise InvalidInput("percentage must be a number, 0-100")
        source = self.simulated(principal, "power")
        try:
            reading = source.set(on_battery=on_battery, percentage=percentage)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        except DeviceError as exc:
            raise DeviceUnavailable(str(exc)) from None
        return {"power": reading.to_dict()}

    def fault(self, principal: Principal, kind: object, fault: object, count: object = 1) -> dict:
        if kind not in FAULT_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if not isinstance(count, int) or isinstance(count, bool):
            raise InvalidInput("count must be an integer")
        device = self.simulated(principal, kind)
        try:
            device.inject_fault(str(fault), count)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        return {"kind": kind, "pending_faults": device.pending_faults}

    def prepare_for_test(self, kind: str, device) -> None:
        """Give a simulated device something to capture when nothing was presented (the technician's test captures):
        a test subject, a noise image, a card of the first voter on the roll."""
        if kind == "fingerprint" and hasattr(device, "present"):
            device.present("technician-test/right_thumb")
        elif kind == "camera" and hasattr(device, "present_image"):
            import cv2

            rng = np.random.default_rng(0)
            ok, png = cv2.imencode(".png", rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
            device.present_image(png.tobytes())
        elif kind == "card" and hasattr(device, "insert"):
            with self.transaction() as s:
                voters = roll.list_voters(s, limit=1)
            if not voters:
                raise StationError("the simulated card reader test needs a roll (station roll synth) to issue a test card")
            device.insert(self.voter_card(voters[0].cnic))
