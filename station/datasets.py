"""Reading labelled photo folders: ``<identity>/<image>`` sub-folders, or a flat folder with ``labels.csv``
(``file,identity``)."""
from __future__ import annotations

import csv
from pathlib import Path

from .errors import InvalidInput

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def labelled_photos(folder: str | Path) -> dict[str, list[Path]]:
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInput(f"no such folder: {root}")
    out: dict[str, list[Path]] = {}
    labels = root / "labels.csv"
    if labels.is_file():
        with labels.open(newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    path, identity = root / row["file"], row["identity"]
                except KeyError:
                    raise InvalidInput(f"{labels}: needs the columns file,identity") from None
                if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                    out.setdefault(identity, []).append(path)
    else:
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            images = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if images:
                out[sub.name] = images
    if not out:
        raise InvalidInput(f"{root}: no labelled photos (expected <identity>/<image> folders or labels.csv)")
    return {k: sorted(v, key=lambda p: (len(p.name), p.name)) for k, v in sorted(out.items())}
