"""The station's two languages, shared by the registrar UI (``api/i18n.py``, Flask-Babel) and the documents the
station writes itself (the auditor's report), which must not depend on ``api``.

- ``languages``: the language codes, which are right-to-left, and ``Phrase``, one string in English and Urdu.
- ``fonts``: where this machine keeps the Urdu fonts (Nastaliq, and Naskh as the fallback), and a font as a data URI.
"""
