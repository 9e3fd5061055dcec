"""The matchers' one error tree.

    MatchingError
     +-- ExtractionFailed      no usable template could be made (not a fingerprint, unreadable template bytes)
     +-- FaceNotFound          no face in the image
     +-- SeveralFaces          more than one face: the operator must make sure only the voter is in view
     +-- FaceTooSmall          the face is too small / far for a reliable encoding
     +-- MatcherUnavailable    the matching library or its model is not installed
     +-- TemplateFormatError   a stored template in a format the engine cannot read (matching/engine.py)
     +-- DatasetError          (also a ValueError) a benchmark folder with no usable images, an unreadable image
          +-- UnreadableImage   an image file OpenCV cannot decode (empty, truncated, not an image): names its path
"""
from __future__ import annotations


class MatchingError(Exception):
    pass


class ExtractionFailed(MatchingError):
    pass


class FaceNotFound(MatchingError):
    pass


class SeveralFaces(MatchingError):
    pass


class FaceTooSmall(MatchingError):
    pass


class MatcherUnavailable(MatchingError):
    pass


class TemplateFormatError(MatchingError):
    """A stored template this engine cannot read (another matcher's, or an older version of its own)."""


class DatasetError(MatchingError, ValueError):
    """A benchmark set that cannot be read: no images in the expected layout, an image OpenCV cannot decode."""


class UnreadableImage(DatasetError):
    """An image file of a benchmark set that cannot be decoded; ``path`` names it."""

    def __init__(self, path) -> None:
        super().__init__(f"cannot read image {path}")
        self.path = path
