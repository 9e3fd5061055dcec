"""tests/support/fingerprint_cache.py, the cache of simulated captures the 1:N registration run reads on its second
pass: what it gives back - the scanner's impressions (its masters read from the cache), the engine's templates, its
failures, its qualities and its scores - is byte-identical to what a station without the cache computes, and a station that finds
the entries on disk computes none of it again."""
import numpy as np
import pytest

from drivers.fingerprint import simulated
from matching.errors import ExtractionFailed
from tests.support.fingerprint_cache import cache_fingerprint_captures, capture_cache_dir
from tests.support.stations import build_station

SUBJECTS = ["person/cache-a/right_thumb", "person/cache-b/left_index"]
QUALITIES = ["normal", "dry", "smudged"]


def _station(home):
    # a database that is never opened: the devices and the engine only (not selected for the PostgreSQL pass)
    return build_station(home, f"sqlite:///{home}/unused.db")


def _captures(st) -> list[np.ndarray]:
    scanner = st.devices.open("fingerprint")
    images = []
    for subject in SUBJECTS:
        for quality in QUALITIES:
            scanner.present(subject, quality=quality)
            images.append(scanner.capture("right_thumb").image)
    return images


def _results(engine, images) -> list[tuple]:
    out = []
    for image in images:
        try:
            t = engine.extract(image)
            template = (t.data, t.minutiae_count, t.quality)
        except ExtractionFailed as exc:
            template = ("failed", str(exc))
        out.append((template, engine.quality(image)))
    templates = [r[0][0] for r in out if r[0][0] != "failed"]
    return out + [engine.compare(a, b) for a in templates for b in templates]


def test_cached_captures_are_byte_identical_to_computed_ones(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    plain = _station(tmp_path / "plain")
    blank = np.full((400, 320), 250, np.uint8)  # no print: ExtractionFailed, quality 0 or low
    images = _captures(plain) + [blank]
    expected = _results(plain.fingerprint_matcher, images)
    assert any(r[0][0] == "failed" for r in expected) and any(r[0][0] != "failed" for r in expected)

    cold = _station(tmp_path / "cold")
    cache = cache_fingerprint_captures(cold, folder)
    assert cache.folder == folder
    cold_images = _captures(cold) + [blank]  # the masters generated and written to the cache
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(cold_images, images))
    assert _results(cold.fingerprint_matcher, cold_images) == expected
    cache.save()
    assert len(list((folder / "compare").glob("*.json"))) == sum(r[0][0] != "failed" for r in expected[:len(images)])
    assert len(list((folder / "masters").glob("*.npz"))) == len(SUBJECTS)
    assert len(list((folder / "extract").glob("*.json"))) == len(images) == len(list((folder / "quality").glob("*.json")))

    def never(*args, **kwargs):
        raise AssertionError("computed again: the cache was not read")

    warm = _station(tmp_path / "warm")
    warm.fingerprint_matcher.extract = warm.fingerprint_matcher.quality = warm.fingerprint_matcher.compare = never
    monkeypatch.setattr(simulated, "generate_master", never)
    cache_fingerprint_captures(warm, folder)
    warm_images = _captures(warm) + [blank]
    assert all(np.array_equal(a, b) for a, b in zip(warm_images, images))
    assert _results(warm.fingerprint_matcher, warm_images) == expected
    for st in (plain, cold, warm):
        st.devices.close()


def test_the_cache_folder_changes_with_the_engine_and_the_resolution(tmp_path):
    base = capture_cache_dir(_station(tmp_path / "a"))
    assert base == capture_cache_dir(_station(tmp_path / "b"))
    assert base != capture_cache_dir(build_station(tmp_path / "c", "sqlite://", fingerprint={"matcher": "bozorth3"}))
    assert base != capture_cache_dir(build_station(tmp_path / "d", "sqlite://", fingerprint={"ppi": 400}))


def test_a_machinery_failure_is_not_kept(tmp_path):
    st = _station(tmp_path)

    def broken(image):
        raise ExtractionFailed("LEADER inference failed: RuntimeError('out of memory')")

    st.fingerprint_matcher.extract = broken
    folder = cache_fingerprint_captures(st, tmp_path / "cache").folder
    with pytest.raises(ExtractionFailed, match="inference failed"):
        st.fingerprint_matcher.extract(np.zeros((64, 64), np.uint8))
    assert not (folder / "extract").exists()


def test_the_folders_of_other_versions_are_removed_once_unused(tmp_path):
    import os
    import time

    from tests.support.fingerprint_cache import _forget_other_versions

    current, stale, recent = (tmp_path / name for name in ("current", "stale", "recent"))
    for folder in (stale, recent):
        (folder / "masters").mkdir(parents=True)
    hour_ago = time.time() - 3700
    for path in (stale, stale / "masters"):
        os.utime(path, (hour_ago, hour_ago))
    _forget_other_versions(current)
    assert not stale.exists() and recent.is_dir()  # another process of other code may be using the recent one
