"""The matchers on the project's own synthetic prints and, when present, the shared labelled face set."""

import numpy as np
import pytest

from drivers.fingerprint.synthetic import generate_master, render_impression
from matching.errors import ExtractionFailed, FaceNotFound
from matching.face import DlibFaceEncoder, encoding_from_bytes, face_distances
from matching.fingerprint import NbisFingerprintMatcher
from tests.support.paths import REPO
from tests.support.require import require_path

FACES = REPO.parent / "shared" / "datasets" / "deepface_faces"


@pytest.fixture(scope="module")
def matcher():
    return NbisFingerprintMatcher()


def test_templates_are_iso_records_and_genuine_beats_impostor(matcher):
    a, b = generate_master("test/a"), generate_master("test/b")
    ta = matcher.extract(render_impression(a, impression=0))
    ta2 = matcher.extract(render_impression(a, impression=1))
    tb = matcher.extract(render_impression(b, impression=0))
    assert ta.data.startswith(b"FMR\x00") and ta.minutiae_count > 10
    assert 0 <= ta.quality <= 100
    genuine, impostor = matcher.compare(ta2.data, ta.data), matcher.compare(tb.data, ta.data)
    assert genuine >= 40 > impostor
    assert list(matcher.compare_many(ta2.data, [ta.data, tb.data])) == [genuine, matcher.compare(ta2.data, tb.data)]


def test_bad_images_and_templates_raise_the_matchers_error(matcher):
    with pytest.raises(ExtractionFailed):
        matcher.extract(np.zeros((10, 10), np.uint8))
    with pytest.raises(ExtractionFailed):
        matcher.extract(np.zeros((300, 300, 3), np.uint8))
    with pytest.raises(ExtractionFailed):
        matcher.compare(b"garbage", b"FMR\x00garbage")


def test_face_distance_is_euclidean_and_separate_from_the_decision():
    refs = np.zeros((2, 128), np.float32)
    refs[1, 0] = 3
    probe = np.zeros(128, np.float32)
    probe[0] = 4
    assert face_distances(refs, probe).tolist() == [4.0, 1.0]
    assert face_distances(np.empty((0, 128)), probe).size == 0
    with pytest.raises(ValueError):
        encoding_from_bytes(b"\x00" * 10)


def test_blank_image_has_no_face():
    with pytest.raises(FaceNotFound):
        DlibFaceEncoder().encode(np.full((200, 200, 3), 128, np.uint8))


def test_same_person_is_closer_than_different_people():
    require_path(FACES / "labels.csv")
    import csv

    from drivers.camera.images import decode_rgb

    rows = list(csv.DictReader((FACES / "labels.csv").open()))
    by_id = {}
    for row in rows:
        by_id.setdefault(row["identity"], []).append(FACES / row["file"])
    encoder = DlibFaceEncoder()
    (a1, a2), (b1, *_) = by_id["id01"][:2], by_id["id02"]
    enc = [encoder.encode(decode_rgb(p.read_bytes())).vector for p in (a1, a2, b1)]
    same, different = face_distances(enc[0], enc[1])[0], face_distances(enc[0], enc[2])[0]
    assert same < 0.5 < different
