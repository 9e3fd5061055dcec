"""Text an officer types into the roll or the match log (a registrant's names and address, an exception's note, a
registrar's decision): what it may hold.

A field that shows nothing is empty, and characters that hide or rearrange what is shown are refused: C0 and C1
controls (an escape sequence rewrites a terminal; a tab or line break has no place in a one-line field) and Unicode's
invisible format characters (category Cf: zero-width spaces, soft hyphens, byte-order marks, word joiners, the
bidirectional embeddings and isolates), surrogates and private-use characters. Mixed Urdu and English typing needs
four format characters, kept: the zero-width non-joiner and joiner (U+200C, U+200D) and the left-to-right and
right-to-left marks (U+200E, U+200F), which set one character's direction and reorder nothing around it.

    typed("name_en", "Ali\\u00adKhan") -> InvalidInput "name_en must not contain ... (U+00AD) ..."
    typed("note", "\\u200b ", multiline=True) -> ""
    hidden_character("note\\n", multiline=True) -> None; visible("\\u200b ") -> False
"""
from __future__ import annotations

import unicodedata

from station.errors import InvalidInput

KEPT = frozenset("\u200c\u200d\u200e\u200f")  # zero-width non-joiner and joiner, LRM and RLM (above)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_LINE_BREAKS = frozenset("\t\n\r")


def hidden_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of ``text`` a typed field must not hold, as "U+XXXX", or None (module docstring); with
    ``multiline`` (a note), tabs and line breaks are allowed."""
    for ch in text:
        if ch in KEPT or (multiline and ch in _LINE_BREAKS):
            continue
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def visible(text: str) -> bool:
    """Whether ``text`` shows anything: a character that is neither white space nor invisible."""
    return any(not ch.isspace() and ch not in KEPT and unicodedata.category(ch) not in _REFUSED_CATEGORIES
               for ch in text)


def typed(name: str, text: str, *, multiline: bool = False) -> str:
    """``text`` as the typed field ``name`` keeps it: "" when it shows nothing; InvalidInput naming the field and the
    character when it holds one it must not (``hidden_character``)."""
    if not visible(text):
        return ""
    if hidden := hidden_character(text, multiline=multiline):
        raise InvalidInput(f"{name} must not contain control or invisible characters ({hidden}): type the text as it "
                           "reads")
    return text
