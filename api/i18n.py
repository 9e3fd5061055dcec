"""English/Urdu via Flask-Babel. The Urdu catalogue is committed as a .po file (api/translations); the app compiles
it to .mo at start-up into a cache folder (STATION_HOME/cache/translations, or the temp folder when the home is not
writable), recompiling only when the .po changed. A first visit takes the language from the browser's
``Accept-Language``; `?lang=ur` / `?lang=en` on any page switches and remembers it (in the session cookie); Urdu pages
are right-to-left."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request, session
from flask_babel import Babel, get_locale

from station.i18n.languages import LANGUAGES, RTL
from station.security.files import private_cache_dir

log = logging.getLogger(__name__)

SOURCE = Path(__file__).resolve().parent / "translations"


def compile_catalogues(source: Path, cache_root: Path) -> Path:
    """Compile every <lang>/LC_MESSAGES/messages.po under ``source`` into ``cache_root``/<digest>; returns the folder."""
    pos = sorted(source.glob("*/LC_MESSAGES/messages.po"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in pos)).hexdigest()[:16]
    out = cache_root / digest
    for po in pos:
        mo = out / po.relative_to(source).with_suffix(".mo")
        if mo.is_file():
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        tmp = mo.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo)
    return out


def _select_locale() -> str:
    """The language chosen on this session (``?lang=``), else the browser's first choice (``Accept-Language``,
    e.g. "ur-PK,ur;q=0.9,en;q=0.8"), else English."""
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES, default="en")


def init_i18n(app: Flask, home: Path) -> None:
    try:
        compiled = compile_catalogues(SOURCE, home / "cache" / "translations")
    except OSError:
        compiled = compile_catalogues(SOURCE, private_cache_dir("translations"))
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    Babel(app, locale_selector=_select_locale)

    @app.before_request
    def _switch_language():
        lang = request.args.get("lang")
        if lang in LANGUAGES and session.get("lang") != lang:
            session["lang"] = lang

    @app.context_processor
    def _language():
        lang = str(get_locale() or "en")
        return {"lang": lang, "dir": "rtl" if lang in RTL else "ltr", "languages": LANGUAGES}
