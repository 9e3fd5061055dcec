"""Tests for the deterministic synthetic fingerprint generator."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
from pathlib import Path

import nbis  # nbis-py, a dependency of the project: missing, the module fails
import numpy as np
import pytest

from drivers.fingerprint.synthetic import (
    PATTERN_CLASSES,
    QUALITY_PROFILES,
    FingerPattern,
    generate_master,
    load_master,
    render_impression,
    save_master,
)
from tests.support.paths import REPO

SUBJECT = "35202-1234567-1/right_thumb"


@pytest.fixture(scope="module")
def master() -> FingerPattern:
    return generate_master(SUBJECT, seed=7)


def test_master_shape_dtype_range(master: FingerPattern) -> None:
    assert master.ridges.dtype == np.float32
    assert master.ridges.ndim == 2
    assert master.ridges.min() >= -1.0 and master.ridges.max() <= 1.0
    assert master.ridges.std() > 0.5  # saturated ridge/valley pattern, not noise around 0
    assert master.pattern_class in PATTERN_CLASSES
    assert master.subject == SUBJECT and master.seed == 7


def test_master_is_read_only(master: FingerPattern) -> None:
    with pytest.raises(ValueError):
        master.ridges[0, 0] = 0.5
    with pytest.raises(AttributeError):
        master.seed = 3  # type: ignore[misc]


def test_master_deterministic_and_distinct(master: FingerPattern) -> None:
    again = generate_master(SUBJECT, seed=7)
    assert np.array_equal(master.ridges, again.ridges)
    assert master.pattern_class == again.pattern_class
    other_subject = generate_master(SUBJECT + "x", seed=7)
    other_seed = generate_master(SUBJECT, seed=8)
    for other in (other_subject, other_seed):
        assert not np.array_equal(master.ridges, other.ridges)
        assert np.mean(np.sign(master.ridges) == np.sign(other.ridges)) < 0.75


def test_master_deterministic_across_processes(master: FingerPattern) -> None:
    code = (
        "import hashlib, sys\n"
        "from drivers.fingerprint.synthetic import generate_master\n"
        f"m = generate_master({SUBJECT!r}, seed=7)\n"
        "sys.stdout.write(hashlib.sha256(m.ridges.tobytes()).hexdigest())\n"
    )
    root = REPO
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout == hashlib.sha256(master.ridges.tobytes()).hexdigest()


def test_custom_size() -> None:
    m = generate_master("small", size=(300, 300))
    assert m.ridges.shape == (300, 300)
    img = render_impression(m, impression=0)
    assert img.shape == (300, 300) and img.dtype == np.uint8


@pytest.mark.parametrize("quality", QUALITY_PROFILES)
def test_every_profile_renders(master: FingerPattern, quality: str) -> None:
    img = render_impression(master, impression=1, quality=quality)
    assert img.dtype == np.uint8 and img.shape == master.ridges.shape
    assert np.median(img[:10, :]) > 230  # white background at the top edge
    assert img.min() < 150  # some dark ridges
    again = render_impression(master, impression=1, quality=quality)
    assert np.array_equal(img, again)


def test_impressions_vary(master: FingerPattern) -> None:
    a = render_impression(master, impression=0)
    b = render_impression(master, impression=1)
    c = render_impression(master, impression=0, seed=1)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, render_impression(master, impression=0, quality="dry"))


def test_unknown_quality_raises(master: FingerPattern) -> None:
    with pytest.raises(ValueError, match="normal.*dry.*wet.*worn.*partial.*smudged"):
        render_impression(master, impression=0, quality="greasy")


def test_partial_has_smaller_contact(master: FingerPattern) -> None:
    normal = render_impression(master, impression=2, quality="normal")
    partial = render_impression(master, impression=2, quality="partial")
    assert np.mean(partial < 200) < 0.6 * np.mean(normal < 200)


def test_save_load_roundtrip(tmp_path: Path, master: FingerPattern) -> None:
    path = tmp_path / "m.npz"
    save_master(master, path)
    loaded = load_master(path)
    assert loaded.subject == master.subject
    assert loaded.seed == master.seed
    assert loaded.pattern_class == master.pattern_class
    assert np.array_equal(loaded.ridges, master.ridges)
    assert not loaded.ridges.flags.writeable
    assert path.stat().st_size < master.ridges.size  # compact: < 1 byte per pixel
    assert np.array_equal(
        render_impression(loaded, impression=3, quality="worn"),
        render_impression(master, impression=3, quality="worn"),
    )


def test_load_rejects_corrupt_and_foreign_files(tmp_path: Path, master: FingerPattern) -> None:
    good = tmp_path / "good.npz"
    save_master(master, good)
    data = bytearray(good.read_bytes())

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a fingerprint" * 10)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, ridges=np.zeros((10, 10), np.uint8))
    tampered = tmp_path / "tampered.npz"
    q = np.clip(np.rint((master.ridges + 1.0) * 127.5), 0, 255).astype(np.uint8)
    q[5, 5] ^= 0xFF
    with np.load(good) as src:
        np.savez(tampered, ridges=q, meta=src["meta"])

    for bad in (truncated, garbage, foreign, tampered):
        with pytest.raises(ValueError):
            load_master(bad)


def _templates(extractor, images):
    import cv2

    out = []
    for img in images:
        ok, png = cv2.imencode(".png", img)
        assert ok
        out.append(extractor.extract_minutiae(png.tobytes()))
    return out


@pytest.mark.slow
def test_nbis_separates_genuine_and_impostor() -> None:
    ex = nbis.new_nbis_extractor(
        nbis.NbisExtractorSettings(
            min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=False, ppi=500.0
        )
    )
    masters = [generate_master(f"nbis-test-{i}/left_index") for i in range(4)]
    temps = [_templates(ex, [render_impression(m, impression=j) for j in range(3)]) for m in masters]
    for per_finger in temps:
        for t in per_finger:
            assert 25 <= len(t.get()) <= 100
        for a, b in itertools.combinations(per_finger, 2):
            assert a.compare(b) >= 40
    for fa, fb in itertools.combinations(temps, 2):
        for a in fa:
            for b in fb:
                assert a.compare(b) < 40
