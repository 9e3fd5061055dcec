import pytest

from station.cnic import gender_from_cnic, parse_cnic
from station.errors import InvalidCnic


@pytest.mark.parametrize("text, expected", [
    ("12345-1234567-1", "12345-1234567-1"),
    ("1234512345671", "12345-1234567-1"),
    ("  82402-7774803-9 ", "82402-7774803-9"),
    ("١٢٣٤٥-١٢٣٤٥٦٧-١", "12345-1234567-1"),   # Arabic-Indic digits
    ("۱۲۳۴۵۱۲۳۴۵۶۷۱", "12345-1234567-1"),     # Extended Arabic-Indic (Urdu keyboard)
])
def test_accepts_dashed_and_bare(text, expected):
    assert parse_cnic(text) == expected


@pytest.mark.parametrize("text", ["12345-123", "", "12345-1234567", "123451234567", "12345123456712",
                                  "1234-51234567-1", "abcde-fghijkl-m", "12345_1234567_1", "12345-1234567-１", "𝟏2345-1234567-1"])
def test_rejects_malformed_with_a_message(text):
    with pytest.raises(InvalidCnic, match="expected 13 digits"):
        parse_cnic(text)


@pytest.mark.parametrize("value", [None, 1234512345671, ["12345-1234567-1"]])
def test_rejects_non_strings(value):
    with pytest.raises(InvalidCnic):
        parse_cnic(value)


def test_gender_digit_parity():
    assert gender_from_cnic("12345-1234567-1") == "male"
    assert gender_from_cnic("12345-1234567-9") == "male"
    assert gender_from_cnic("12345-1234567-0") == "female"
    assert gender_from_cnic("1234512345674") == "female"
