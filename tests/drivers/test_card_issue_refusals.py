"""Issuing virtual cards: a holder whose DG1 the cnic-v1 reader would refuse (docs/card-profile.md: every field exactly
once, none empty) gets no card at all, with a ValueError naming the field, rather than a card that fails at the
polling station as "malformed"."""
import dataclasses

import pytest

from drivers.card.virtual import issue_card
from tests.support.card import HOLDER, issuer


@pytest.mark.parametrize("field, value, words", [
    ("name_ur", "", "name ur"),
    ("relative_name_ur", "", "relative name ur"),
    ("name_en", "", "name en"),
    ("name_en", "Ali\nKhan", "name en"),
    ("name_ur", "ع" * 201, "name ur"),
    ("card_number", "CN-٠٠١", "card number"),
    ("relation", "brother", "relation"),
    ("gender", "x", "gender"),
])
def test_a_holder_the_reader_would_refuse_gets_no_card(field, value, words):
    key, cert = issuer()
    holder = dataclasses.replace(HOLDER, **{field: value})
    with pytest.raises(ValueError, match=words):
        issue_card(holder, face_jpeg=None, fingerprints=[], issuer_key=key, issuer_cert=cert)


@pytest.mark.parametrize("tamper", [None, "bad-signature", "altered-file", "clone"])
def test_every_card_of_a_complete_holder_is_still_issued(tamper):
    key, cert = issuer()
    assert issue_card(HOLDER, face_jpeg=None, fingerprints=[], issuer_key=key, issuer_cert=cert, tamper=tamper)
