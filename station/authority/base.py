"""The client interface every authority backend offers (a template method, as python-can's BusABC): the public
methods validate their input, build the request, call the backend's ``_exchange`` with a deadline, and trust the
answer only after ``protocol.check_answer`` has verified its signature and that it answers this request.

    with open_client(settings) as client:
        client.cnic_status("12345-1234567-1")                  # -> CnicStatus(status="valid", reference=..., at=...)
        client.confirm_demographics(cnic, "Ali Khan", "Akbar Khan", "1980-01-31")   # -> DemographicResult
        client.verify_fingerprint(cnic, "right_thumb", iso_template)                # -> BiometricResult(match=...)

Every call either returns a result or raises an ``AuthorityError`` (errors.py) within ``settings.timeout_s``.
"""
from __future__ import annotations

import abc
import base64
import datetime as dt
import time
from typing import Any

from station.cnic import parse_cnic
from station.config import FINGER_POSITIONS
from station.errors import InvalidInput
from station.authority import protocol
from station.authority.errors import AuthorityNotConfigured, AuthorityResponseInvalid
from station.authority.results import BiometricResult, CnicStatus, DemographicResult, RollUpdate, RollUpdateList, SignedAnswer
from station.authority.settings import AuthoritySettings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PACKAGE_TIMEOUT_S = 60.0  # roll updates are fetched in the background, never while a voter waits


class AuthorityClient(abc.ABC):
    backend = ""
    online = True  # False for a backend that never reaches an authority ("none")

    def __init__(self, settings: AuthoritySettings) -> None:
        self.settings = settings
        self._public_key = None

    # --- the interface ---
    def cnic_status(self, cnic: object) -> CnicStatus:
        """The CNIC's status at the authority: valid, expired, blocked, deceased, or unknown (no record)."""
        cnic = parse_cnic(cnic)
        fields, answer, elapsed = self._ask("cnic_status", {"cnic": cnic})
        if fields["status"] not in protocol.STATUSES:
            raise AuthorityResponseInvalid(f"the signed answer has an unknown status {fields['status'][:20]!r}: "
                                           "refused")
        return CnicStatus(cnic=cnic, status=fields["status"], reference=fields["reference"], at=fields["at"],
                          code=fields["code"], message=fields["message"], request_id=fields["request_id"],
                          elapsed_ms=elapsed, answer=answer)

    def confirm_demographics(self, cnic: object, name: str, father_name: str, date_of_birth: str | dt.date,
                             ) -> DemographicResult:
        """Whether the authority's record has this name, father's (or husband's) name and date of birth."""
        cnic = parse_cnic(cnic)
        if not all(isinstance(v, str) and v.strip() for v in (name, father_name)):
            raise InvalidInput("name and father_name must be non-empty text")
        dob = date_of_birth.isoformat() if isinstance(date_of_birth, dt.date) else str(date_of_birth)
        try:
            dt.date.fromisoformat(dob)
        except ValueError:
            raise InvalidInput(f"date_of_birth must be YYYY-MM-DD, got {dob[:20]!r}") from None
        fields, answer, elapsed = self._ask("demographics", {"cnic": cnic, "name": name.strip(),
                                                             "father_name": father_name.strip(),
                                                             "date_of_birth": dob})
        return DemographicResult(cnic=cnic, name_match=fields["name_match"],
                                 father_name_match=fields["father_name_match"],
                                 date_of_birth_match=fields["date_of_birth_match"], reference=fields["reference"],
                                 at=fields["at"], code=fields["code"], message=fields["message"],
                                 request_id=fields["request_id"], elapsed_ms=elapsed, answer=answer)

    def verify_fingerprint(self, cnic: object, finger: str, template_or_image: bytes) -> BiometricResult:
        """1:1 against the authority's record of this finger. ``template_or_image`` is an ISO/IEC 19794-2:2005
        minutiae template (what the station extracts) or a PNG image; it is sent, never logged."""
        cnic = parse_cnic(cnic)
        if finger not in FINGER_POSITIONS:
            raise InvalidInput(f"unknown finger {finger!r}; use one of: {', '.join(FINGER_POSITIONS)}")
        if not isinstance(template_or_image, (bytes, bytearray)) or not template_or_image:
            raise InvalidInput("the fingerprint sample must be non-empty bytes")
        sample_format = "PNG" if bytes(template_or_image[:8]) == PNG_MAGIC else "ISO19794-2:2005"
        fields, answer, elapsed = self._ask("biometric", {
            "cnic": cnic, "finger": finger, "format": sample_format,
            "sample": base64.b64encode(bytes(template_or_image)).decode("ascii")})
        if fields["finger"] != finger:
            raise AuthorityResponseInvalid("the signed answer is about another finger: refused")
        return BiometricResult(cnic=cnic, finger=finger, match=fields["match"], reference=fields["reference"],
                               at=fields["at"], code=fields["code"], message=fields["message"],
                               request_id=fields["request_id"], elapsed_ms=elapsed, answer=answer)

    def roll_updates(self, polling_station: str, current_version: int) -> RollUpdateList:
        """The roll packages (signed by the commission) the authority holds for this station, newer than
        ``current_version``: deaths, blocked CNICs, address changes as deltas."""
        fields, answer, elapsed = self._ask("roll_updates", {"polling_station": polling_station,
                                                             "current_version": int(current_version)},
                                            timeout_s=max(self.settings.timeout_s, PACKAGE_TIMEOUT_S))
        packages = []
        for item in fields["packages"]:
            try:
                base = item["base_version"]
                update = RollUpdate(package_id=str(item["package_id"]), kind=str(item["kind"]),
                                    version=int(item["version"]), base_version=None if base is None else int(base),
                                    sha256=str(item["sha256"]), size=int(item["size"]))
            except (KeyError, TypeError, ValueError):
                raise AuthorityResponseInvalid("the signed roll-update listing is malformed: refused") from None
            if not 0 < update.size <= protocol.MAX_PACKAGE_BYTES or len(update.sha256) != 64:
                raise AuthorityResponseInvalid("the signed roll-update listing names an impossible package: refused")
            packages.append(update)
        return RollUpdateList(polling_station=polling_station,
                              packages=tuple(sorted(packages, key=lambda p: (p.version, p.kind != "full"))),
                              reference=fields["reference"], at=fields["at"], code=fields["code"],
                              message=fields["message"], request_id=fields["request_id"], elapsed_ms=elapsed,
                              answer=answer)

    def fetch_roll_package(self, update: RollUpdate) -> bytes:
        """The package's bytes, signed by the authority and matching the listing's SHA-256 (the roll-package import
        then checks the commission's signature, target and version as for a file)."""
        request = protocol.new_request("roll_package", self.settings.station_id, package_id=update.package_id)
        body = protocol.canonical(request)
        started = time.monotonic()
        raw = self._exchange(protocol.PATHS["roll_package"], body,
                             started + max(self.settings.timeout_s, PACKAGE_TIMEOUT_S),
                             max_bytes=max(min(update.size, protocol.MAX_PACKAGE_BYTES), protocol.MAX_ANSWER_BYTES))
        return protocol.check_package_answer(raw, self.authority_key(), request, body, update.sha256)

    # --- plumbing ---
    def _ask(self, kind: str, fields: dict[str, Any], *, timeout_s: float | None = None,
             ) -> tuple[dict, SignedAnswer, float]:
        request = protocol.new_request(kind, self.settings.station_id, **fields)
        body = protocol.canonical(request)
        started = time.monotonic()
        raw = self._exchange(protocol.PATHS[kind], body, started + (timeout_s or self.settings.timeout_s))
        answer_fields, answer = protocol.check_answer(raw, self.authority_key(), request, body)
        return answer_fields, answer, round((time.monotonic() - started) * 1000, 1)

    def authority_key(self):
        """The authority's answer-signing public key (read once)."""
        if self._public_key is None:
            path = self.settings.authority_public_key
            if path is None:
                raise AuthorityNotConfigured("authority.authority_public_key is not set")
            try:
                self._public_key = protocol.load_public_key(path.read_bytes(), str(path))
            except OSError as exc:
                raise AuthorityNotConfigured(f"authority.authority_public_key: cannot read {path}: "
                                             f"{exc.strerror}") from None
        return self._public_key

    @abc.abstractmethod
    def _exchange(self, path: str, body: bytes, deadline: float, *,
                  max_bytes: int = protocol.MAX_ANSWER_BYTES) -> protocol.RawAnswer:
        """Send ``body`` to ``path``; return the raw answer (a body of at most ``max_bytes``) before ``deadline``
        (time.monotonic()) or raise AuthorityTimeout / AuthorityUnavailable / AuthorityCertificateUntrusted."""

    def close(self) -> None:
        """Release connections; idempotent."""

    def __enter__(self) -> "AuthorityClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
