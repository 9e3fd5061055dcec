"""Fuzzing the cnic-v1 profile: random and mutated APDU responses and TLV structures never raise anything but
CardError (seeded, a few seconds)."""
from __future__ import annotations

import random
import time

import numpy as np
import pytest
from tests.support.card import make_card, trusted

from drivers.card import tlv
from drivers.card.errors import CardError
from drivers.card.profiles import cnic_v1
from drivers.card.trust import load_trusted_issuers
from drivers.card.virtual import VirtualCard, VirtualCardFile

SEED = 20240601


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation: bit flips, byte changes, truncation, insertion, duplication or random bytes."""
    out = bytearray(data)
    kind = rng.randrange(7)
    if kind == 0 and out:
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif kind == 1 and out:
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif kind == 2:
        out = out[:rng.randrange(len(out) + 1)]
    elif kind == 3:
        at = rng.randrange(len(out) + 1)
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == 4 and out:
        at = rng.randrange(len(out))
        out[at:at] = out[at:at + rng.randint(1, 32)]
    elif kind == 5:
        out = bytearray(rng.randbytes(rng.randint(0, 300)))
    elif out:
        at = rng.randrange(len(out))  # a length byte set to an extreme
        out[at] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0x85, 0xFF))
    return bytes(out)


def random_tlv(rng: random.Random, depth: int = 0) -> bytes:
    """A well-formed TLV tree of random tags (drawn from the profile's own tags too) and values."""
    tags = [0x60, 0x61, 0x63, 0x75, 0x6F, 0x77, 0x5C, 0x7F61, 0x7F60, 0xA1, 0x5F2E, 0x02, 0x80, 0x81, 0x82, 0x87,
            0x88, 0x89, 0x8A, 0x8B, 0x5F01, 0x5F36]
    out = b""
    for _ in range(rng.randint(1, 4)):
        tag = rng.choice(tags)
        if depth < 3 and rng.random() < 0.5:
            value = random_tlv(rng, depth + 1)
        else:
            value = rng.randbytes(rng.choice((0, 1, 2, 8, 20)))
        out += tlv.encode(tag, value)
    return out


@pytest.fixture(scope="module")
def genuine():
    return VirtualCardFile.from_bytes(make_card(face=False))


@pytest.mark.slow
def test_mutated_apdu_responses_raise_only_card_errors(genuine):
    rng = random.Random(SEED)
    issuers = load_trusted_issuers(trusted())
    raw = genuine.to_bytes()
    started, reads, responses, outcomes = time.perf_counter(), 0, 0, {}
    for _ in range(4000):
        card = VirtualCard(raw)
        rate = rng.choice((0.02, 0.1, 0.3))

        def transmit(apdu: bytes) -> tuple[bytes, int]:
            nonlocal responses
            response = card.answer(apdu)
            data, sw = response[:-2], int.from_bytes(response[-2:], "big")
            if rng.random() < rate:
                responses += 1
                choice = rng.randrange(4)
                if choice == 0:
                    return mutate(data, rng), sw
                if choice == 1:
                    return data, rng.choice((0x6282, 0x6700, 0x6A82, 0x6B00, 0x6F00, 0x6100 | rng.randrange(256),
                                             0x6C00 | rng.randrange(256), rng.randrange(0x10000)))
                if choice == 2:
                    return rng.randbytes(rng.randint(0, 260)), 0x9000
                return b"", 0x9000
            return data, sw

        try:
            cnic_v1.read_card(transmit, issuers)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except CardError as exc:
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
        reads += 1
    assert responses >= 4000
    assert {"MalformedCard", "AlteredFile", "ok"} <= set(outcomes)
    assert time.perf_counter() - started < 60  # a guard against a parser that hangs or loops, not a speed figure


PARSERS = {
    "com": (cnic_v1.parse_com, cnic_v1.EF_COM),
    "dg1": (cnic_v1.parse_dg1, 0x0101),
    "dg2": (cnic_v1.parse_dg2, 0x0102),
    "dg3": (cnic_v1.parse_dg3, 0x0103),
    "dg15": (cnic_v1.parse_dg15, 0x010F),
}


def test_mutated_and_random_files_raise_only_card_errors(genuine):
    rng = random.Random(SEED + 1)
    np_rng = np.random.default_rng(SEED)
    issuers = load_trusted_issuers(trusted())
    started, inputs = time.perf_counter(), 0
    sod = genuine.files[cnic_v1.EF_SOD]
    for i in range(20000):
        name = rng.choice([*PARSERS, "sod", "sod"])
        original = sod if name == "sod" else genuine.files[PARSERS[name][1]]
        style = i % 4
        if style == 0:
            data = mutate(original, rng)
        elif style == 1:
            data = mutate(mutate(original, rng), rng)
        elif style == 2:
            data = random_tlv(rng)
            if rng.random() < 0.5:  # under the file's own outer tag
                data = tlv.encode(tlv.read_header(original)[0], data)
        else:
            data = np_rng.integers(0, 256, size=int(np_rng.integers(0, 200)), dtype=np.uint8).tobytes()
        try:
            if name == "sod":
                cnic_v1.parse_and_verify_sod(data, issuers)
            else:
                PARSERS[name][0](data)
        except CardError:
            pass
        inputs += 1
    assert inputs == 20000
    assert time.perf_counter() - started < 60  # a guard against a parser that hangs or loops, not a speed figure
