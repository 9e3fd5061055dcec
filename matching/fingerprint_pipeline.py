"""The project's fingerprint pipeline: LEADER minutiae + MCC (LSS-R), fused with mindtct minutiae + bozorth3.

Extraction (``LeaderFusionMatcher.extract``):
  1. LEADER minutiae (matching/leader.py: onnxruntime at 500 ppi on the foreground crop), the
     ``max_minutiae`` most confident ones;
  2. their Minutia Cylinder-Codes (matching/fingerprint_mcc.py), binarised (the "MCC bit" variant of Cappelli et
     al. 2010: a cell is 1 when its contribution sum is above mu_psi, i.e. its sigmoid above 0.5) and stored in
     the template, so that a comparison does not rebuild them; a comparison is popcounts of ANDed bits + LSS-R;
  3. NBIS mindtct minutiae (an ISO 19794-2 record, its ``bozorth3_max_minutiae`` most reliable) for bozorth3.

Comparison (``compare``): ``w * mcc / mcc_scale + (1 - w) * min(bozorth3, bozorth3_cap) / bozorth3_scale``.
LEADER+MCC is the strong part on real sensors; bozorth3 on mindtct minutiae covers the synthetic prints where
LEADER's minutiae are sparse and MCC alone collapses (FVC2000 DB4_B). The fusion constants (w = 0.7,
mcc_scale 0.15, bozorth3_scale 60) were chosen once among a small grid (w 0.3-0.8, bozorth3_scale 30/40/60) over
FVC2000 DB1-4_B together, so they are not blind to those sets; they are the same for every set. The decision
threshold is the caller's.

Template bytes (``LeaderFusionTemplate.data``), little-endian, version 2::

    magic b"VVFP" | u8 version=2 | u8 quality | u16 n_cylinders | u32 len_leader_iso | u32 len_mindtct_iso
    leader ISO/IEC 19794-2:2005 record (LEADER minutiae; minutia quality = LEADER confidence x 100)
    mindtct ISO/IEC 19794-2:2005 record (what bozorth3 compares)
    u8 index[n_cylinders] (which LEADER minutiae have a valid cylinder)
    packed bits: n_cylinders x (ns*ns*nd) cylinder cells, then n_cylinders x (ns*ns) cell-validity masks

Both minutiae sets are plain ISO records, so a store or another matcher can read them without this module (the LEADER
one in the standard's layout, the mindtct one in nbis-py's: matching/iso19794.py).

Version 1 wrote LEADER's directions mirrored (the network's counter-clockwise angle was taken for the pixel frame's,
so the ISO record held ``-angle`` and the cylinders were built with directions of the wrong hand). Its minutiae are
otherwise exact, so ``upgrade_v1`` re-extracts a version-1 template without the image: the LEADER record's angles are
negated back and the cylinders rebuilt; the mindtct record was always right and is kept.

Extraction runs mindtct on a second thread while LEADER runs (both release the GIL): the two take the two cores of a
small station machine instead of one after the other.

Comparison speed. A decoded template is kept per thread (``FusionParams.decoded_cache_size``, keyed by its bytes): a
reference compared again (the cross-check's last voters, a second attempt, 1:N) is not decoded again, and from its
second use it also keeps its minutiae pairs' geometry (distances and angles LSS-R's relaxation picks from). The
cylinder products are popcounts and small blocked matrix products that never wake OpenBLAS's threads (``_products``).
None of this changes a score: every product is of small integers (exact in float32) and the geometry is elementwise,
so the numbers are those of the straightforward computation (tests/matching/test_mcc_fast_paths.py). bozorth3 is most
of a comparison now; nbis-py's bozorth3 keeps state between calls, so a score can differ by one point of bozorth3
(0.005 fused) with the history of calls in the process (seen on the first call of a process and in about one
comparison in 400 with reused records).

Why bozorth3 keeps 80 minutiae (``bozorth3_max_minutiae``), measured on the four FVC2000 B sets in session 35
(before LEADER's scale floor, matching/leader.py, so DB3_B's fused figures are of that extraction): bozorth3's time
grows fast with the count (DB3_B, random pairs: 1.06 ms at 80, 0.71 at 60, 0.50 at 50, 0.24 at 40). At 40, a
comparison with both templates cached would take 0.74-0.88 ms instead of 0.89-2.04 ms (cold: 1.12-1.39 instead of
1.53-2.44 ms; one run of each on the same machine). But bozorth3 alone then loses accuracy on the larger images: EER
6.5% -> 14.1% on DB3_B (DB1_B 10.4 -> 11.9%, DB2_B 8.8 -> 10.2%, DB4_B 7.3 -> 7.1%). The fused EER moved by at most
0.14 points (one or two of 280 genuine pairs), because LEADER+MCC carries these four sets; bozorth3 is the leg for the
prints LEADER reads poorly, so its accuracy is not traded for speed. Keeping only the mindtct minutiae near LEADER's
minutiae (inside their convex hull, 16 pixels of margin) to drop background ones was worse: fused EER 1.78 -> 2.15%
on DB3_B, 3.56 -> 3.93% on DB4_B.

Session 38 cut, at comparison time, only the record bozorth3 reads (the same templates) to its K most reliable
minutiae. At 30, a cached comparison's median fell from 1.0-1.8 to 0.45-0.82 ms on FVC2000 DB1-4_B (genuine pairs
3-6x faster), and the calibration sets' fused EER was equal or lower (DB1_B, DB2_B, U.are.U). But the held-out sets'
rose (DB3_B 0.51 -> 0.70%, DB4_B 3.56 -> 3.93%), more than the 0.2 points a speed measure may cost; 40-60 lost
accuracy on DB3_B (40-50 on DB1-2_B too) for at most a third less time. So 80 stays.
"""
from __future__ import annotations

import math
import struct
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from . import iso19794
from .errors import ExtractionFailed, MatcherUnavailable
from .fingerprint_mcc import McCylinderFusionMatcher, MccParams, MccTemplate, _angle_diff
from .leader import LeaderMinutiaeExtractor, LeaderParams

MAGIC = b"VVFP"
VERSION = 2
UPGRADABLE_VERSIONS = (1,)  # older template versions upgrade_v1 re-extracts
_HEADER = struct.Struct("<4sBBHII")
_ISO_ANGLE_UNIT = 2 * math.pi / 256  # ISO 19794-2:2005: 1.40625 degrees, counter-clockwise


@dataclass(frozen=True)
class FusionParams:
    mcc_weight: float = 0.7
    mcc_scale: float = 0.15  # typical genuine MCC score
    bozorth3_scale: float = 60.0  # typical genuine bozorth3 score
    bozorth3_cap: float = 200.0  # a very high bozorth3 score should not drown MCC
    bozorth3_max_minutiae: int = 80  # the mindtct record keeps its most reliable minutiae: large images (FVC2000 DB3_B,
    # median 138 minutiae) hold many spurious ones, which cost bozorth3 time (O(n^2) pair tables) and accuracy (why
    # 80 and not fewer: the module docstring)
    decoded_cache_size: int = 256  # decoded templates kept per thread (~250 kB each)


@dataclass(frozen=True)
class LeaderFusionTemplate:
    data: bytes  # the versioned binary template above
    minutiae_count: int  # LEADER minutiae kept
    quality: int = 0  # no NFIQ2 computed here: 0 = "unknown"


@dataclass
class _Decoded:
    mcc: MccTemplate  # minutiae, cell validity, valid indexes (cylinders kept as bits below)
    words: np.ndarray  # uint64 (n_valid, ns*ns*nd / 64): binary cylinders
    cell_counts: np.ndarray  # float32 (n_valid, ns*ns): bits set per cell (= squared norm per cell)
    mindtct_iso: bytes
    bozorth: object = field(default=None)  # nbis loaded template, per thread
    geometry: np.ndarray | None = None  # McCylinderFusionMatcher.valid_geometry, once the template is cached


_BYTE_POPCOUNT = np.array([bin(v).count("1") for v in range(256)], np.uint8)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Bits set per element, summed per uint64 word's bytes (numpy >= 2 has it built in)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return _BYTE_POPCOUNT[words.view(np.uint8)].reshape(*words.shape, 8).sum(-1, dtype=np.int32)


_SINGLE_THREAD_PRODUCT = 1 << 18  # multiply-adds above which OpenBLAS hands a product to its threads


def _products(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x @ y.T`` in row blocks small enough for OpenBLAS to run each on the calling thread. Above ~2^18
    multiply-adds it wakes its threads, which on a two-core station busy with LEADER and mindtct costs ten times the
    product (measured: 0.6 against 0.03 ms of CPU per comparison under load). Here every operand holds small
    integers (bits per cell, cell validity), so each sum is exact in float32 whatever the blocking: the same values
    as one product."""
    rows = max(1, (_SINGLE_THREAD_PRODUCT - 1) // max(1, y.shape[0] * x.shape[1]))
    if rows >= x.shape[0]:
        return x @ y.T
    return np.concatenate([x[r:r + rows] @ y.T for r in range(0, x.shape[0], rows)])


def _cylinder_words(packed: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """uint64 (n, words) rows of the (n, ncell, nd) cylinder ``bits``, zero-padded to whole words. When a cylinder is
    a whole number of words (16 x 16 x 6 = 24 words) its rows are the stored bytes themselves."""
    n, row_bits = bits.shape[0], bits.shape[1] * bits.shape[2]
    if row_bits % 64 == 0:
        return packed[:n * row_bits // 8].reshape(n, row_bits // 8).copy().view(np.uint64)
    words = np.packbits(bits.reshape(n, row_bits), axis=1)  # row-aligned bytes (n may be 0)
    pad = (-words.shape[1]) % 8
    if pad:
        words = np.pad(words, ((0, 0), (0, pad)))
    return np.ascontiguousarray(words).view(np.uint64)


def _cell_counts(bits: np.ndarray) -> np.ndarray:
    """float32 (n, ncell): bits set per cell of (n, ncell, nd) bits. The nd slices are added (numpy's sum over a short
    last axis takes five times as long); small integers, the same values either way."""
    counts = bits[..., 0].astype(np.int32)
    for k in range(1, bits.shape[-1]):
        counts += bits[..., k]
    return counts.astype(np.float32)


# ------------------------------------------------------------------------ ISO 19794-2:2005 (matching/iso19794.py)

def iso_from_minutiae(minutiae: np.ndarray, width: int, height: int, ppi: int = 500) -> bytes:
    """An ISO/IEC 19794-2:2005 record (``iso19794.STANDARD``) of (n, 5) minutiae: x, y, theta (pixel frame), kind
    (1 ending), quality 0-1."""
    m = np.asarray(minutiae, dtype=np.float64).reshape(-1, 5)[:255]
    fields = []
    for x, y, theta, kind, q in m:
        iso_angle = int(round(((-theta) % (2 * math.pi)) / _ISO_ANGLE_UNIT)) % 256
        t = iso19794.ENDING if kind >= 0.5 else iso19794.BIFURCATION
        xi, yi = int(min(max(round(x), 0), 0x3FFF)), int(min(max(round(y), 0), 0x3FFF))
        fields.append((xi, yi, iso_angle, t, int(min(max(round(q * 100), 1), 100))))
    return iso19794.write_standard(np.array(fields, dtype=np.int64).reshape(-1, 5), width, height, ppi)


def pixel_minutiae(record: bytes) -> np.ndarray:
    """(n, 5) minutiae of a ``STANDARD`` record in this module's frame (inverse of iso_from_minutiae): x, y, theta
    (radians, pixel frame), kind (1 ending, 0 other), quality 0-1."""
    m = iso19794.read_minutiae(record, iso19794.STANDARD).minutiae
    theta = _angle_diff(-m[:, iso19794.ANGLE] * _ISO_ANGLE_UNIT, 0.0)
    return np.stack([m[:, iso19794.X], m[:, iso19794.Y], theta,
                     (m[:, iso19794.TYPE] == iso19794.ENDING).astype(np.float64), m[:, iso19794.QUALITY] / 100.0],
                    axis=1).astype(np.float64)


# ------------------------------------------------------------------------------------------------ the matcher

class LeaderFusionMatcher:
    """``extract(image, ppi=500) -> LeaderFusionTemplate``; ``compare(probe, reference) -> float`` on template bytes
    (higher = more similar); ``compare_mcc`` gives the LEADER+MCC part alone. The LEADER model and NBIS load at first
    use, once."""

    name = "leader_mcc_bozorth3"
    mcc_only_name = "leader_mcc"

    def __init__(self, leader: LeaderParams | None = None, mcc: MccParams | None = None,
                 fusion: FusionParams | None = None, *, model_path=None) -> None:
        self.leader = LeaderMinutiaeExtractor(leader, model_path=model_path)
        self._mcc = McCylinderFusionMatcher(mcc)  # cylinder maths and mindtct access
        self.fusion = fusion or FusionParams()
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None  # mindtct beside LEADER (created at first extraction)
        self._pool_lock = threading.Lock()

    # -------------------------------------------------------------- extraction
    def extract(self, image: np.ndarray, ppi: int = 500) -> LeaderFusionTemplate:
        import cv2

        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim != 2 or min(img.shape) < 64:
            raise ExtractionFailed("a fingerprint image must be 8-bit grey and at least 64x64 pixels")
        f = 500.0 / ppi
        if ppi != 500:  # mindtct's parameters and the MCC radii are for 500 ppi: mindtct works on a resampled copy
            at500 = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        else:
            at500 = img
        mindtct = self._mindtct_pool().submit(self._mindtct_iso, at500)
        try:
            minutiae = self.leader.extract(img, ppi=ppi)
        finally:
            mindtct_iso = mindtct.result()  # waited for in any case; raises mindtct's ExtractionFailed
        if len(minutiae) == 0:
            raise ExtractionFailed("LEADER found no minutiae")
        if ppi != 500:
            minutiae = minutiae.copy()
            minutiae[:, :2] *= f
        img = at500
        data = self._template(iso_from_minutiae(minutiae, img.shape[1], img.shape[0]), mindtct_iso)
        return LeaderFusionTemplate(data=data, minutiae_count=int(len(minutiae)))

    @property
    def extraction_settings(self) -> str:
        """The settings that decide a template's contents within its format version (LEADER's scale and thresholds,
        the cylinders, the mindtct minutiae kept): a template cache keys on them, so a changed extraction is never
        read from it stale."""
        leader = replace(self.leader.params, intra_op_threads=0, cache_dir=None)  # these change speed, not content
        return f"{leader!r}|{self._mcc.params!r}|bozorth3_max_minutiae={self.fusion.bozorth3_max_minutiae}"

    def _mindtct_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mindtct")
        return self._pool

    def _mindtct_iso(self, image: np.ndarray) -> bytes:
        import cv2

        # nbis takes an encoded image: uncompressed BMP (~0.1 ms) instead of PNG (~2 ms to encode, then to inflate);
        # the pixels, hence the minutiae, are the same
        ok, encoded = cv2.imencode(".bmp", np.ascontiguousarray(image))
        if not ok:
            raise ExtractionFailed("could not encode the fingerprint image")
        ex = self._mcc._extractor()
        try:
            return bytes(ex.extract_minutiae(encoded.tobytes()).to_iso_19794_2_2005())
        except Exception as exc:  # noqa: BLE001 - nbis.NbisError
            raise ExtractionFailed(f"mindtct extraction failed: {exc!r}") from None

    def _encode(self, leader_iso: bytes, mindtct_iso: bytes, mcc: MccTemplate) -> bytes:
        n = len(mcc.valid)
        cells = np.packbits(mcc.cylinders > 0.5, axis=None) if n else np.zeros(0, np.uint8)
        valid = np.packbits(mcc.cell_valid > 0.5, axis=None) if n else np.zeros(0, np.uint8)
        return (_HEADER.pack(MAGIC, VERSION, 0, n, len(leader_iso), len(mindtct_iso)) + leader_iso + mindtct_iso
                + mcc.valid.astype(np.uint8).tobytes() + cells.tobytes() + valid.tobytes())

    # -------------------------------------------------------------- decoding
    def decode(self, data: bytes) -> _Decoded:
        """Parse template bytes (no cylinder is rebuilt); ExtractionFailed when they are not a valid template."""
        data = bytes(data)
        p = self._mcc.params
        try:
            magic, version, _q, n, len_l, len_m = _HEADER.unpack_from(data, 0)
        except struct.error:
            raise ExtractionFailed("not a fingerprint template (too short)") from None
        if magic != MAGIC:
            raise ExtractionFailed("not a fingerprint template (bad magic)")
        if version != VERSION:
            hint = " (upgrade it: upgrade_v1)" if version in UPGRADABLE_VERSIONS else ""
            raise ExtractionFailed(f"unsupported fingerprint template version {version}{hint}")
        ncell = p.ns * p.ns
        n_cyl_bytes = (n * ncell * p.nd + 7) // 8
        n_valid_bytes = (n * ncell + 7) // 8
        off = _HEADER.size
        if len(data) != off + len_l + len_m + n + n_cyl_bytes + n_valid_bytes:
            raise ExtractionFailed("fingerprint template has the wrong length")
        leader_iso = data[off:off + len_l]
        off += len_l
        mindtct_iso = data[off:off + len_m]
        off += len_m
        minutiae = pixel_minutiae(leader_iso)
        valid = np.frombuffer(data, np.uint8, n, off).astype(np.int32)
        off += n
        if n and valid.max() >= len(minutiae):
            raise ExtractionFailed("fingerprint template is inconsistent")
        packed = np.frombuffer(data, np.uint8, n_cyl_bytes, off)
        bits = np.unpackbits(packed)[:n * ncell * p.nd].reshape(n, ncell, p.nd)
        off += n_cyl_bytes
        vbits = np.unpackbits(np.frombuffer(data, np.uint8, n_valid_bytes, off))[:n * ncell]
        m = np.empty((len(minutiae), 4), np.float32)
        m[:] = minutiae[:, [0, 1, 2, 4]]
        mcc = MccTemplate(iso=b"", minutiae=m, cylinders=np.zeros((n, 0), np.float32),
                          cell_valid=vbits.reshape(n, ncell).astype(np.float32), valid=valid,
                          minutiae_count=len(minutiae))
        return _Decoded(mcc=mcc, words=_cylinder_words(packed, bits), cell_counts=_cell_counts(bits),
                        mindtct_iso=mindtct_iso)

    def valid_cylinders(self, data: bytes) -> int:
        """The number of valid MCC cylinders of a template (from its header, after the whole template is checked)."""
        self.decode(data)
        return _HEADER.unpack_from(bytes(data), 0)[3]

    @staticmethod
    def _cache_key(data) -> bytes:
        """The decoded cache's key of a template (a LeaderFusionTemplate or its bytes)."""
        return bytes(data.data if isinstance(data, LeaderFusionTemplate) else data)

    def _decoded(self, data) -> _Decoded:
        """Decoded template, from a small per-thread cache keyed by the bytes (a 1:N search or a benchmark decodes
        each stored template once)."""
        data = self._cache_key(data)
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = OrderedDict()
        hit = cache.get(data)
        if hit is not None:
            cache.move_to_end(data)
            if hit.geometry is None:  # compared again: its minutiae pairs' geometry is worth keeping
                hit.geometry = self._mcc.valid_geometry(hit.mcc)
            return hit
        decoded = self.decode(data)
        if self.fusion.decoded_cache_size > 0:
            cache[data] = decoded
            while len(cache) > self.fusion.decoded_cache_size:
                cache.popitem(last=False)
        return decoded

    def forget(self, data) -> None:
        """Drop a template from this thread's decoded cache (``station bench speed`` times a new probe against a
        kept reference this way)."""
        cache = getattr(self._local, "cache", None)
        if cache is not None:
            cache.pop(self._cache_key(data), None)

    # -------------------------------------------------------------- comparison
    def compare_mcc(self, probe, reference) -> float:
        """LEADER minutiae, binary MCC with LSS-R: [0, 1]."""
        return self._mcc_bits(self._decoded(probe), self._decoded(reference))

    def _mcc_bits(self, a: _Decoded, b: _Decoded) -> float:
        if len(a.mcc.valid) == 0 or len(b.mcc.valid) == 0:
            return 0.0
        # dot products of binary cylinders = popcount of AND (no BLAS call: small matrices, no thread overhead)
        cross = _popcount(a.words[:, None, :] & b.words[None, :, :]).sum(-1, dtype=np.int32)
        va, vb = a.mcc.cell_valid, b.mcc.cell_valid
        return float(self._mcc.lssr_from_products(
            _products(a.cell_counts, vb), _products(va, b.cell_counts), cross.astype(np.float32), _products(va, vb),
            a.mcc, b.mcc, a.geometry, b.geometry))

    def cylinder_bits(self, data) -> np.ndarray:
        """uint8 0/1 (n_cylinders, ns*ns*nd) bits of a template's valid cylinders, cell-major (what the 1:N index
        of matching/search_cylinders.py hashes). ExtractionFailed when ``data`` is not a template."""
        p = self._mcc.params
        words = self.decode(self._cache_key(data)).words
        return np.unpackbits(words.view(np.uint8), axis=1)[:, :p.ns * p.ns * p.nd]

    def compare_bozorth3(self, probe, reference) -> float:
        a, b = self._decoded(probe), self._decoded(reference)
        return float(self._bozorth(a).compare(self._bozorth(b)))

    def _bozorth(self, d: _Decoded):
        if d.bozorth is None:
            ex = self._mcc._extractor()
            try:
                d.bozorth = ex.load_iso_19794_2_2005(d.mindtct_iso)
            except Exception as exc:  # noqa: BLE001 - nbis.NbisError
                raise ExtractionFailed(f"not a valid mindtct ISO record: {exc!r}") from None
        return d.bozorth

    def compare(self, probe, reference) -> float:
        """Fused score, >= 0, about 1 for a clear genuine pair."""
        f = self.fusion
        a, b = self._decoded(probe), self._decoded(reference)
        mcc = self._mcc_bits(a, b)
        boz = float(self._bozorth(a).compare(self._bozorth(b)))
        return f.mcc_weight * mcc / f.mcc_scale + (1 - f.mcc_weight) * min(boz, f.bozorth3_cap) / f.bozorth3_scale

    def check_available(self) -> None:
        try:
            import nbis  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise MatcherUnavailable(f"{exc.name} is not installed") from None
        from .leader import packaged_model_path

        packaged_model_path()

    # -------------------------------------------------------------- references from exchange records
    def template_from_iso(self, iso: bytes, ppi: int = 500) -> LeaderFusionTemplate:
        """This engine's reference from a bare ISO/IEC 19794-2:2005 minutiae record of any extractor (the card's DG3,
        an outside vendor, an older ``bozorth3`` roll; either layout of matching/iso19794.py). Its minutiae take the
        place of both the LEADER minutiae (the cylinders are built from the ``leader.max_minutiae`` of best quality)
        and the mindtct record (bozorth3's input, in nbis-py's layout; an nbis-py record is kept as it is).

        The record's resolution is used when it states one (``ppi`` otherwise); coordinates are scaled to 500 ppi as
        extract() does. The standard's angle (counter-clockwise as seen on the image) is negated into the pixel frame,
        as extract() does with LEADER's, so the cylinders of both kinds of reference agree. ExtractionFailed when the
        record is malformed or holds no minutia."""
        iso = bytes(iso)
        rec = iso19794.read_minutiae(iso19794.to_standard(iso, ppi=ppi), iso19794.STANDARD)
        m = rec.minutiae
        if len(m) == 0:
            raise ExtractionFailed("the ISO 19794-2 record holds no minutiae")
        fx, fy = (500.0 / (res * 2.54) for res in (rec.x_resolution, rec.y_resolution))
        scaled = abs(fx - 1.0) > 0.01 or abs(fy - 1.0) > 0.01  # 197 pixels/cm is 500 ppi
        if not scaled:
            fx = fy = 1.0
        width, height = int(round(rec.width * fx)), int(round(rec.height * fy))
        xs, ys = m[:, iso19794.X] * fx, m[:, iso19794.Y] * fy
        quality = m[:, iso19794.QUALITY] / 100.0
        pixel = np.stack([xs, ys, _angle_diff(-m[:, iso19794.ANGLE] * _ISO_ANGLE_UNIT, 0.0),
                          (m[:, iso19794.TYPE] == iso19794.ENDING).astype(np.float64), quality], axis=1)
        best = np.argsort(-quality, kind="stable")[:self.leader.params.max_minutiae]
        leader_iso = iso_from_minutiae(pixel[best], width, height)
        if scaled:
            m = m.copy()
            m[:, iso19794.X], m[:, iso19794.Y] = np.rint(xs), np.rint(ys)
            iso = iso19794.write_standard(m, width, height, 500, finger_position=rec.finger_position)
        data = self._template(leader_iso, iso19794.to_nbis(iso), require_cylinders=True)
        return LeaderFusionTemplate(data=data, minutiae_count=int(len(best)))

    def upgrade_v1(self, data: bytes) -> LeaderFusionTemplate:
        """The version-2 template of a version-1 one (module docstring): LEADER's angles negated back, cylinders
        rebuilt, the mindtct record kept. ExtractionFailed when ``data`` is not a well-formed version-1 template."""
        data = bytes(data)
        try:
            magic, version, _q, _n, len_l, len_m = _HEADER.unpack_from(data, 0)
        except struct.error:
            raise ExtractionFailed("not a fingerprint template (too short)") from None
        if magic != MAGIC or version != 1:
            raise ExtractionFailed("not a version-1 fingerprint template")
        off = _HEADER.size
        old = iso19794.read_minutiae(data[off:off + len_l], iso19794.STANDARD)
        mindtct_iso = data[off + len_l:off + len_l + len_m]
        m = old.minutiae.copy()
        m[:, iso19794.ANGLE] = (-m[:, iso19794.ANGLE]) % 256
        leader_iso = iso19794.write_standard(m, old.width, old.height, 500)
        return LeaderFusionTemplate(data=self._template(leader_iso, mindtct_iso), minutiae_count=int(len(m)))

    def template_from_records(self, leader_iso: bytes, mindtct_iso: bytes) -> LeaderFusionTemplate:
        """A template from its two minutiae records as extract() would have made them (a standard-layout record of
        the engine's minutiae, an nbis-layout one for bozorth3): the 1:N benchmark's synthesised fingers."""
        data = self._template(leader_iso, mindtct_iso)
        return LeaderFusionTemplate(data=data, minutiae_count=len(pixel_minutiae(leader_iso)))

    def _template(self, leader_iso: bytes, mindtct_iso: bytes, *, require_cylinders: bool = False) -> bytes:
        """Template bytes from the two minutiae records; the cylinders are built from the stored (ISO-rounded) LEADER
        minutiae, so that a decoded template is the same as this one."""
        stored = pixel_minutiae(leader_iso)
        mcc = self._mcc.template_from_minutiae(b"", stored[:, [0, 1, 2, 4]])
        if require_cylinders and len(mcc.valid) == 0:
            raise ExtractionFailed(f"the ISO 19794-2 record's {len(stored)} minutiae make no valid cylinder")
        return self._encode(leader_iso, self._most_reliable(mindtct_iso), mcc)

    def _most_reliable(self, nbis_record: bytes) -> bytes:
        """The nbis-layout record with only its ``bozorth3_max_minutiae`` most reliable minutiae (in their order)."""
        m = iso19794.read_minutiae(nbis_record, iso19794.NBIS).minutiae
        cap = self.fusion.bozorth3_max_minutiae
        if len(m) <= cap:
            return nbis_record
        keep = np.sort(np.argsort(-m[:, iso19794.QUALITY], kind="stable")[:cap])
        return iso19794.write_nbis(m[keep], nbis_record)
