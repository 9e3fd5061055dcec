"""The Merkle tree of the match log against RFC 9162 section 2.1, independently of station/audit/merkle.py:

- a reference written here straight from the RFC's recursive definitions (MTH, PATH, PROOF/SUBPROOF over lists of
  entries), which the station's tree must agree with, root, path and proof, for every size 0..40;
- the published test vectors of the Certificate Transparency project (the RFC 6962 reference leaves: roots of sizes
  0..8, inclusion and consistency proofs), and the empty tree's hash, SHA-256 of the empty string;
- every proof for every size 1..40 verifies (RFC 9162 2.1.3.2 / 2.1.4.2) and any tampering makes it fail."""
import hashlib

import pytest

from station.audit import merkle


# --- the reference, from RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1 (entries are bytes; nothing shared with the code) ---
def ref_mth(entries: list[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:])).digest()


def ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, entries[:k]) + [ref_mth(entries[k:])]
    return ref_path(m - k, entries[k:]) + [ref_mth(entries[:k])]


def ref_subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [ref_mth(entries)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, entries[:k], b) + [ref_mth(entries[k:])]
    return ref_subproof(m - k, entries[k:], False) + [ref_mth(entries[:k])]


def ref_proof(m: int, entries: list[bytes]) -> list[bytes]:
    return ref_subproof(m, entries, True)


ENTRIES = [f"entry {i}: {'x' * (i % 7)}".encode() for i in range(40)]
LEAVES = [hashlib.sha256(b"\x00" + e).digest() for e in ENTRIES]  # RFC 9162: leaf hash = SHA-256(0x00 || entry)

# --- published vectors (certificate-transparency-go merkle tests; the RFC 6962 reference implementation's) ---
CT_ENTRIES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
CT_INCLUSION = [  # (leaf index, tree size, path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def flipped(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def test_the_empty_tree_is_the_hash_of_the_empty_string():
    assert merkle.root([]) == hashlib.sha256(b"").digest() == bytes.fromhex(CT_ROOTS[0])


def test_leaf_and_node_hashes_are_domain_separated():
    assert merkle.leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert merkle.leaf_hash(b"L" * 32 + b"R" * 32) != merkle.node_hash(b"L" * 32, b"R" * 32)


def test_the_published_roots_and_proofs():
    leaves = [merkle.leaf_hash(e) for e in CT_ENTRIES]
    assert [merkle.root(leaves, n).hex() for n in range(9)] == CT_ROOTS
    for index, size, path in CT_INCLUSION:
        assert [h.hex() for h in merkle.inclusion_path(index, leaves, size)] == path
        assert merkle.verify_inclusion(index, size, leaves[index], [bytes.fromhex(h) for h in path],
                                       bytes.fromhex(CT_ROOTS[size]))
    for old, new, proof in CT_CONSISTENCY:
        assert [h.hex() for h in merkle.consistency_proof(old, leaves, new)] == proof
        assert merkle.verify_consistency(old, new, bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new]),
                                         [bytes.fromhex(h) for h in proof])


@pytest.mark.parametrize("size", range(0, 41))
def test_roots_agree_with_the_reference(size):
    assert merkle.root(LEAVES, size) == ref_mth(ENTRIES[:size])
    assert merkle.root(LEAVES[:size]) == ref_mth(ENTRIES[:size])


@pytest.mark.parametrize("size", range(1, 41))
def test_every_inclusion_proof_agrees_verifies_and_fails_when_tampered(size):
    root = ref_mth(ENTRIES[:size])
    other_roots = {n: ref_mth(ENTRIES[:n]) for n in range(1, 41) if n != size}
    for index in range(size):
        path = merkle.inclusion_path(index, LEAVES, size)
        assert path == ref_path(index, ENTRIES[:size])
        leaf = LEAVES[index]
        assert merkle.verify_inclusion(index, size, leaf, path, root)
        assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"another entry"), path, root)
        assert not merkle.verify_inclusion(index, size, leaf, path, flipped(root))
        for i in range(len(path)):
            for bit in (0, 7):
                assert not merkle.verify_inclusion(index, size, leaf, path[:i] + [flipped(path[i], bit)] + path[i + 1:],
                                                   root)
        assert not merkle.verify_inclusion(index, size, leaf, path + [root], root)
        if path:
            assert not merkle.verify_inclusion(index, size, leaf, path[:-1], root)
            assert not merkle.verify_inclusion(index, size, leaf, path[::-1], root) or path == path[::-1]
        for other in range(size):
            if other != index:
                assert not merkle.verify_inclusion(other, size, leaf, path, root)
        for n, other_root in other_roots.items():  # another tree size with its own root
            if index < n:
                assert not merkle.verify_inclusion(index, n, leaf, path, other_root)
        assert not merkle.verify_inclusion(size, size, leaf, path, root)  # out of range
        assert not merkle.verify_inclusion(-1, size, leaf, path, root)


@pytest.mark.parametrize("new", range(1, 41))
def test_every_consistency_proof_agrees_verifies_and_fails_when_tampered(new):
    new_root = ref_mth(ENTRIES[:new])
    for old in range(1, new + 1):
        old_root = ref_mth(ENTRIES[:old])
        proof = merkle.consistency_proof(old, LEAVES, new)
        assert proof == ref_proof(old, ENTRIES[:new])
        assert merkle.verify_consistency(old, new, old_root, new_root, proof)
        assert not merkle.verify_consistency(old, new, flipped(old_root), new_root, proof)
        assert not merkle.verify_consistency(old, new, old_root, flipped(new_root), proof)
        for i in range(len(proof)):
            assert not merkle.verify_consistency(old, new, old_root, new_root,
                                                 proof[:i] + [flipped(proof[i], 3)] + proof[i + 1:])
        assert not merkle.verify_consistency(old, new, old_root, new_root, proof + [new_root])
        if proof:
            assert not merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
        # a log that changed one of the first `old` entries is not consistent with the old root
        changed = ENTRIES[:new]
        changed = changed[:old - 1] + [b"rewritten"] + changed[old:]
        assert not merkle.verify_consistency(old, new, old_root, ref_mth(changed),
                                             ref_proof(old, changed) if old < new else [])
        # other sizes, each with its own genuine root, do not take this proof
        for other_old in range(1, new + 1):
            if other_old != old and ref_proof(other_old, ENTRIES[:new]) != proof:
                assert not merkle.verify_consistency(other_old, new, ref_mth(ENTRIES[:other_old]), new_root, proof)
        assert not merkle.verify_consistency(0, new, merkle.root([]), new_root, proof)
        assert not merkle.verify_consistency(new + 1, new, new_root, new_root, proof)


def test_proofs_are_refused_outside_the_tree():
    with pytest.raises(ValueError):
        merkle.inclusion_path(3, LEAVES, 3)
    with pytest.raises(ValueError):
        merkle.consistency_proof(0, LEAVES, 5)
    with pytest.raises(ValueError):
        merkle.consistency_proof(6, LEAVES, 5)
    with pytest.raises(ValueError):
        merkle.root(LEAVES, 41)
    assert not merkle.verify_inclusion(0, 1, LEAVES[0], [], LEAVES[0][:31])  # not a SHA-256 value
