"""The station's languages and ``Phrase``: one human-readable string written once, in English and Urdu, side by side.

A phrase's ``{name}`` placeholders are filled with values already formatted by the caller (no format specs), so the
English and the Urdu take the same values. ``html`` escapes the phrase and its values; in a right-to-left language
each value is wrapped in ``<bdi dir="ltr">``, so that numbers, usernames and CNIC-like codes keep their order inside
Urdu text."""
from __future__ import annotations

import html
import string
from dataclasses import dataclass

LANGUAGES = {"en": "English", "ur": "اردو"}
DEFAULT_LANGUAGE = "en"
RTL = frozenset({"ur"})


def check_language(lang: str) -> str:
    """``lang`` when the station speaks it; ValueError otherwise."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (one of {', '.join(LANGUAGES)})")
    return lang


def direction(lang: str) -> str:
    return "rtl" if lang in RTL else "ltr"


@dataclass(frozen=True)
class Phrase:
    en: str
    ur: str

    def template(self, lang: str) -> str:
        return getattr(self, check_language(lang))

    def placeholders(self, lang: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.template(lang)) if name is not None}

    def text(self, lang: str, **values: object) -> str:
        """Plain text (a log line, a JSON field)."""
        return self.template(lang).format(**values)

    def html(self, lang: str, **values: object) -> str:
        """HTML: the phrase and its values escaped; values isolated left-to-right in a right-to-left language."""
        rtl = lang in RTL
        cells = {k: f'<bdi dir="ltr">{html.escape(str(v))}</bdi>' if rtl else html.escape(str(v))
                 for k, v in values.items()}
        return html.escape(self.template(lang), quote=False).format(**cells)
