"""CNIC numbers: parsing, canonical form and the gender digit.

A Pakistani CNIC has 13 digits, written ``DDDDD-DDDDDDD-D``: a 5-digit locality code, a 7-digit serial and a last
digit whose parity encodes gender (odd: male, even: female).
"""
from __future__ import annotations

import re

from station.errors import InvalidCnic

_DASHED = re.compile(r"^([0-9]{5})-([0-9]{7})-([0-9])$")
_BARE = re.compile(r"^([0-9]{5})([0-9]{7})([0-9])$")
# Urdu keyboards type Extended Arabic-Indic digits (U+06F0..), Arabic ones Arabic-Indic digits (U+0660..).
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def ascii_digits(text: str) -> str:
    """``text`` with the digits an Urdu or Arabic keyboard types as 0-9 (a CNIC, a census block, a family number)."""
    return text.translate(_DIGITS)


def parse_cnic(text: object) -> str:
    """Return the canonical dashed form of a CNIC, or raise InvalidCnic saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidCnic("CNIC must be a string of 13 digits, e.g. 12345-1234567-1")
    value = ascii_digits(text.strip())
    match = _DASHED.match(value) or _BARE.match(value)
    if not match:
        digits = sum(ch in "0123456789" for ch in value)
        raise InvalidCnic(
            f"invalid CNIC {value[:20]!r}: expected 13 digits as 12345-1234567-1 or 1234512345671"
            f" (got {digits} digit{'s' if digits != 1 else ''})"
        )
    return "-".join(match.groups())


def gender_from_cnic(cnic: str) -> str:
    """'male' for an odd last digit, 'female' for an even one (NADRA's convention)."""
    return "male" if int(parse_cnic(cnic)[-1]) % 2 else "female"
