"""The Urdu fonts, from this machine's Debian packages (never a CDN): Noto Nastaliq Urdu (fonts-noto-core), as Urdu's
readers write it, and Amiri (fonts-hosny-amiri), a Naskh face, as the fallback for any glyph it lacks. Not Debian
12's Awami Nastaliq (fonts-sil-awami-nastaliq 2.200): Chromium does not shape it (every letter comes out in its
isolated form)."""
from __future__ import annotations

import base64
from pathlib import Path

SYSTEM_FONT_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/opentype/fonts-hosny-amiri"),
                    Path("/usr/share/fonts/truetype/fonts-hosny-amiri"))
FONTS = {"nastaliq-regular.ttf": "NotoNastaliqUrdu-Regular.ttf", "nastaliq-bold.ttf": "NotoNastaliqUrdu-Bold.ttf",
         "amiri-regular.ttf": "Amiri-Regular.ttf", "amiri-bold.ttf": "Amiri-Bold.ttf"}  # served name -> file
FONT_LICENCES = {"LICENSE.txt": Path("/usr/share/doc/fonts-hosny-amiri/copyright"),
                 "noto-LICENSE.txt": Path("/usr/share/doc/fonts-noto-core/copyright")}
NASTALIQ_FAMILY = "Noto Nastaliq Urdu"
URDU_FONT_STACK = f'"{NASTALIQ_FAMILY}", "Amiri", "Noto Naskh Arabic", serif'  # Nastaliq, then Naskh


def find_font(name: str, dirs: tuple[Path, ...] = SYSTEM_FONT_DIRS) -> Path | None:
    """The file of the font served as ``name`` (a key of FONTS) in the first of ``dirs`` that has it, else None."""
    filename = FONTS.get(name)
    if filename:
        for folder in dirs:
            if (folder / filename).is_file():
                return folder / filename
    return None


def font_data_uri(path: Path) -> str:
    """A TrueType font as a ``data:font/ttf;base64,...`` URI (4/3 of the file's size), for self-contained pages."""
    return "data:font/ttf;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
