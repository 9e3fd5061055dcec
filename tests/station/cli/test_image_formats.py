"""Photos and prints in every format OpenCV reads: the AT&T/ORL face set is grey PGM in ``s1/ .. s40/`` folders."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from matching.datasets import (
    FACE_SUFFIXES,
    FINGERPRINT_SUFFIXES,
    IMAGE_SUFFIXES,
    fvc_folder,
    labelled_faces,
)
from station.cli.main import main
from tests.support.face import tiny_face_set

PICKS = {"s1": ["img1.jpg", "img2.jpg"], "s2": ["img13.jpg", "img14.jpg"]}


def test_one_list_of_suffixes_covers_what_opencv_reads():
    for suffix in (".pgm", ".ppm", ".pbm", ".pnm", ".bmp", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2", ".webp"):
        assert suffix in IMAGE_SUFFIXES
    assert set(IMAGE_SUFFIXES) <= set(FACE_SUFFIXES) and set(IMAGE_SUFFIXES) <= set(FINGERPRINT_SUFFIXES)


def grey_copies(folder, suffixes):
    """The tiny face set rewritten as grey images, the k-th photo of each identity in ``suffixes[k]``."""
    source = tiny_face_set(folder / "source", PICKS, longest_side=200)
    target = folder / "faces"
    for identity, names in PICKS.items():
        (target / identity).mkdir(parents=True)
        for k, name in enumerate(names):
            grey = cv2.imread(str(source / identity / name), cv2.IMREAD_GRAYSCALE)
            assert cv2.imwrite(str(target / identity / f"{k + 1}{suffixes[k % len(suffixes)]}"), grey)
    return target


@pytest.mark.parametrize("suffixes", [(".pgm",), (".bmp", ".tif"), (".png", ".jpeg")])
def test_labelled_photos_are_read_in_any_format(tmp_path, suffixes):
    faces = labelled_faces(grey_copies(tmp_path, suffixes))
    assert [s.subject for s in faces.samples] == ["s1", "s1", "s2", "s2"]
    assert faces.image(0).ndim == 3  # grey files come back as RGB for the face encoder


def test_fingerprints_are_read_from_pgm(tmp_path):
    for finger in (1, 2):
        for impression in (1, 2):
            assert cv2.imwrite(str(tmp_path / f"{finger}_{impression}.pgm"),
                               np.full((64, 64), 40 * finger + impression, np.uint8))
    prints = fvc_folder(tmp_path)
    assert len(prints) == 4 and prints.image(3).shape == (64, 64) and prints.image(3)[0, 0] == 82


@pytest.mark.slow
def test_bench_accuracy_on_an_orl_style_pgm_folder(tmp_path):
    """`station bench accuracy --modality face --dataset DIR` on s1/1.pgm ...: read, scored, no traceback."""
    faces = grey_copies(tmp_path, (".pgm",))
    result = CliRunner().invoke(main, ["bench", "accuracy", "--modality", "face", "--dataset", str(faces), "--json",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["pairs"]["genuine"] == 2 and data["pairs"]["impostor"] == 4
    (_, figures), = data["matchers"].items()
    assert figures["fta"] < 1.0  # faces were found in the grey PGM photos


def test_a_folder_with_no_images_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "notes.txt").write_text("not a photo")
    result = CliRunner().invoke(main, ["bench", "accuracy", "--modality", "face", "--dataset", str(tmp_path)])
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert result.stderr.splitlines() == [result.stderr.strip()] and "no labelled photos" in result.stderr
