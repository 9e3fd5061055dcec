"""The fingerprint engine the station decides with, chosen by name (``fingerprint.matcher`` in the station's config).

Every use of fingerprints at the station goes through one ``FingerprintEngine``: 1:1 verification at polling, the
registration duplicate search, ``roll admit``, the shared-finger cross-check, the simulated authority and the
benchmarks' station policy. Two engines exist:

``leader_mcc_bozorth3``  the project's pipeline (matching/fingerprint_pipeline.py): LEADER minutiae + binary MCC
                         fused with mindtct + bozorth3. Templates: ``leader_mcc_bozorth3/v<VERSION>``.
``bozorth3``             NIST NBIS alone: mindtct minutiae, bozorth3 score. Templates: ISO/IEC 19794-2:2005 records in
                         nbis-py's layout (matching/iso19794.py); exchange records go out in the standard's.

Template formats. Each stored reference carries its format (``BiometricReference.format``). An engine matches its own
format, and builds its template from an exchange record (``EXCHANGE_FORMAT``, ISO/IEC 19794-2:2005 minutiae from any
extractor: an older roll, the card's DG3, an outside vendor): that is the re-extraction an older roll gets. Any other
format is refused with ``TemplateFormatError`` naming it; never matched with the wrong matcher. An older version of the
engine's own format that can be re-extracted without the image (``leader_mcc_bozorth3/v1``: fingerprint_pipeline's
``upgrade_v1``) is converted the same way.

1:N search (``new_index``): each engine indexes its own representation. ``leader_mcc_bozorth3``: locality-sensitive
hashing of its binary cylinders (matching/search_cylinders.py); ``bozorth3``: minutia triplets of its mindtct record
(matching/search_fingerprint.py). Either way the index only shortlists; the engine's ``compare`` decides.

Quality (NFIQ2) is a separate call (``quality``): it costs about as much as a mindtct extraction, so the polling
station computes it only when a print did not match (to tell the officer why), and registration for every capture.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Hashable

import numpy as np

from . import iso19794
from .errors import MatchingError, TemplateFormatError
from .fingerprint import TEMPLATE_FORMAT as EXCHANGE_FORMAT
from .fingerprint import FingerprintTemplate, NbisFingerprintMatcher
from .search_votes import VoteIndex

DEFAULT_ENGINE = "leader_mcc_bozorth3"


@dataclass(frozen=True)
class EngineInfo:
    name: str
    template_format: str  # what the engine writes into BiometricReference.format
    description: str
    extraction_settings: str = ""  # what else decides a template's contents within its format (caches key on it)


class FingerIndex:
    """An engine's 1:N candidate filter over its own templates: ``add(id, template)``, ``candidates(template,
    shortlist)`` (best first, (id, votes)); ``probe_keys(template)`` + ``candidates_for_keys`` when one probe is looked
    up in several indexes (shards). The engine's ``compare`` re-ranks what it returns. It wraps an index of some
    features of a template (matching/search_votes.py: ``CylinderIndex``, ``FingerprintIndex``)."""

    def __init__(self, inner: VoteIndex, features: Callable[[bytes], np.ndarray]) -> None:
        self._inner, self._features = inner, features

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, id_: Hashable) -> bool:
        return id_ in self._inner

    def add(self, id_: Hashable, template: bytes) -> int:
        """Returns how many keys were indexed (0: the template cannot be found by this index)."""
        return self._inner.add(id_, self._features(bytes(template)))

    def remove(self, id_: Hashable) -> bool:
        return self._inner.remove(id_)

    def probe_keys(self, template: bytes) -> np.ndarray:
        return self._inner.probe_keys(self._features(bytes(template)))

    def candidates_for_keys(self, keys: np.ndarray, shortlist: int = 500) -> list[tuple[Hashable, float]]:
        return self._inner.candidates_for_keys(keys, shortlist)

    def candidates(self, template: bytes, shortlist: int = 500) -> list[tuple[Hashable, float]]:
        return self.candidates_for_keys(self.probe_keys(template), shortlist)

    def prepare(self) -> None:
        """Finishes the build now (``VoteIndex.prepare``) rather than at the next search."""
        self._inner.prepare()

    def memory_bytes(self) -> int:
        return self._inner.memory_bytes()


class FingerprintEngine:
    """``extract(image) -> FingerprintTemplate`` (quality 0: see ``quality``); ``compare(probe, reference) -> score``
    on this engine's template bytes (higher = more similar); ``features(template)`` the number of local features its
    score rests on (what the capture gate counts); ``reference(format, data)`` turns a stored reference into this
    engine's template; ``new_index()`` an empty 1:N candidate filter over its templates."""

    def __init__(self, info: EngineInfo, *, extract: Callable[[np.ndarray], FingerprintTemplate],
                 compare: Callable[[bytes, bytes], float], features: Callable[[bytes], int],
                 converters: dict[str, Callable[[bytes], bytes]],
                 new_index: Callable[[], FingerIndex], exchange: Callable[[bytes], bytes],
                 check_available: Callable[[], None], ppi: int) -> None:
        self.info = info
        self._exchange = exchange
        self._extract, self._compare, self._features = extract, compare, features
        self._converters, self._new_index = converters, new_index
        self._check_available = check_available
        self._quality = NbisFingerprintMatcher(ppi=ppi, compute_quality=True)
        self._converted: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def template_format(self) -> str:
        return self.info.template_format

    @property
    def extraction_settings(self) -> str:
        return self.info.extraction_settings

    def extract(self, image: np.ndarray) -> FingerprintTemplate:
        return self._extract(image)

    def quality(self, image: np.ndarray) -> int:
        """NFIQ2 score 1-100 of a capture; 0 = could not be computed ("unknown")."""
        try:
            return self._quality.extract(image).quality
        except MatchingError:
            return 0

    def compare(self, probe: bytes, reference: bytes) -> float:
        return float(self._compare(bytes(probe), bytes(reference)))

    def features(self, template: bytes) -> int:
        """How many local features of ``template`` this engine's score rests on (valid MCC cylinders; minutiae for
        bozorth3): a capture with too few is retaken (``fingerprint.<engine>.min_features``), since on so little a
        score is not the one the thresholds were calibrated on."""
        return int(self._features(bytes(template)))

    @property
    def read_formats(self) -> tuple[str, ...]:
        """The formats it matches: its own first, then those it converts."""
        own = self.template_format
        return (own, *(f for f in self._converters if f != own))

    def reads(self, template_format: str) -> bool:
        return template_format in self.read_formats

    def reference(self, template_format: str, data: bytes) -> bytes:
        """This engine's template for a stored reference of ``template_format``; TemplateFormatError when it cannot
        read it. Exchange records and older versions are converted once and the result kept (a roll re-extracted on
        first use)."""
        convert = self._converters.get(template_format)
        if convert is None and template_format == self.template_format:
            return bytes(data)
        if convert is None:
            raise TemplateFormatError(
                f"a fingerprint template in format {template_format or 'unknown'!r} cannot be matched by the "
                f"{self.name} engine (it reads {', '.join(self.read_formats)}): import a roll made for this engine")
        key = bytes(data)
        with self._lock:
            hit = self._converted.get(key)
        if hit is None:
            hit = convert(key)
            with self._lock:
                if len(self._converted) > 20_000:
                    self._converted.clear()
                self._converted[key] = hit
        return hit

    def new_index(self) -> FingerIndex:
        return self._new_index()

    def exchange_record(self, template: bytes, *, finger_position: int = 0) -> bytes:
        """The ISO/IEC 19794-2:2005 record (the standard's layout) of this template's minutiae, with the finger's
        position code (ISO/IEC 19794-2 table: 1 right thumb ... 10 left little; 0 unknown): what leaves the station
        (the ID authority's 1:1 check) and what another system can read."""
        return iso19794.to_standard(self._exchange(bytes(template)), finger_position=finger_position)

    def check_available(self) -> None:
        """MatcherUnavailable when a part of the engine (NBIS, onnxruntime, the LEADER model) is not installed."""
        self._check_available()


def _bozorth3(ppi: int) -> FingerprintEngine:
    m = NbisFingerprintMatcher(ppi=ppi, compute_quality=False)

    def check() -> None:
        m._nbis()

    def new_index() -> FingerIndex:
        from .search_fingerprint import FingerprintIndex, minutiae_from_iso

        return FingerIndex(FingerprintIndex(), minutiae_from_iso)

    return FingerprintEngine(
        EngineInfo("bozorth3", EXCHANGE_FORMAT, "NIST NBIS: mindtct minutiae, bozorth3 score", f"ppi={ppi}"),
        extract=m.extract, compare=m.compare,
        features=lambda template: len(iso19794.read_minutiae(template, iso19794.AUTO).minutiae),
        converters={EXCHANGE_FORMAT: iso19794.to_nbis}, new_index=new_index,
        exchange=bytes,
        check_available=check,
        ppi=ppi)


def _leader_mcc_bozorth3(ppi: int) -> FingerprintEngine:
    from .fingerprint_pipeline import _HEADER, UPGRADABLE_VERSIONS, VERSION, LeaderFusionMatcher

    m = LeaderFusionMatcher()

    def extract(image: np.ndarray) -> FingerprintTemplate:
        t = m.extract(image, ppi=ppi)
        return FingerprintTemplate(data=t.data, minutiae_count=t.minutiae_count, quality=0)

    def new_index() -> FingerIndex:
        from .search_cylinders import CylinderIndex

        return FingerIndex(CylinderIndex(), m.cylinder_bits)

    def from_exchange(iso: bytes) -> bytes:
        return m.template_from_iso(iso).data

    def from_v1(template: bytes) -> bytes:
        return m.upgrade_v1(template).data

    def exchange(template: bytes) -> bytes:
        m.decode(template)  # validates the whole template
        len_leader = _HEADER.unpack_from(template, 0)[4]
        return template[_HEADER.size:_HEADER.size + len_leader]  # the LEADER minutiae, standard layout

    fmt = f"{m.name}/v{VERSION}"
    converters = {EXCHANGE_FORMAT: from_exchange, **{f"{m.name}/v{v}": from_v1 for v in UPGRADABLE_VERSIONS}}
    return FingerprintEngine(
        EngineInfo(m.name, fmt,
                   "LEADER minutiae + binary MCC fused with mindtct + bozorth3 (matching/fingerprint_pipeline.py)",
                   f"ppi={ppi}|{m.extraction_settings}"),
        extract=extract, compare=m.compare, features=m.valid_cylinders, converters=converters,
        new_index=new_index, exchange=exchange, check_available=m.check_available, ppi=ppi)


ENGINES: dict[str, Callable[[int], FingerprintEngine]] = {
    "leader_mcc_bozorth3": _leader_mcc_bozorth3,
    "bozorth3": _bozorth3,
}


def make_engine(name: str, *, ppi: int = 500) -> FingerprintEngine:
    """The engine called ``name``; ValueError naming the known ones otherwise. Nothing heavy loads here (models and
    NBIS load at first use)."""
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown fingerprint matcher {name!r}; use one of: {', '.join(ENGINES)}") from None
    return factory(ppi)
