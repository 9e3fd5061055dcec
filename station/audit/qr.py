"""A signed checkpoint as a PNG QR code, for polling agents to photograph off the summary screen (segno: pure
Python). The code holds the note's exact text (UTF-8, byte mode): a phone's QR reader gives back the file
``station audit check-proof --checkpoint`` and ``station audit witness`` read."""
from __future__ import annotations

import io

import segno


def png(text: str, *, scale: int = 4) -> bytes:
    """The QR code (error correction M, a 4-module quiet zone) of ``text`` as PNG bytes."""
    code = segno.make(text, error="m", micro=False, encoding="utf-8")
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
