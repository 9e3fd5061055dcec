"""The match log as a Merkle tree, exactly as RFC 9162 (Certificate Transparency v2) section 2.1 defines it, beside
the hash chain (``chain``): the leaves are the entries' signed bodies, the bytes the chain hashes.

    leaf hash  = SHA-256(0x00 || body)          node hash = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256()                      MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of
                                                            two smaller than n

``root`` is MTH (2.1.1), ``inclusion_path`` is PATH (2.1.3.1), ``consistency_proof`` is PROOF / SUBPROOF (2.1.4.1);
``verify_inclusion`` and ``verify_consistency`` are the verification algorithms of 2.1.3.2 and 2.1.4.2, step by
step. Leaf index ``i`` is log entry ``i + 1`` (entries are numbered from 1). Pure functions over 32-byte hashes:
no database, no configuration (the offline verifier, ``merkle_verify``, uses them as they are)."""
from __future__ import annotations

import hashlib
import hmac
from typing import Sequence

HASH_SIZE = 32
LEAF_PREFIX, NODE_PREFIX = b"\x00", b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for hi > lo, over leaf hashes."""
    if hi - lo == 1:
        return leaves[lo]
    k = _split(hi - lo)
    return node_hash(_subtree(leaves, lo, lo + k), _subtree(leaves, lo + k, hi))


def _size(leaves: Sequence[bytes], size: int | None) -> int:
    n = len(leaves) if size is None else size
    if not 0 <= n <= len(leaves):
        raise ValueError(f"tree size {n} is outside 0-{len(leaves)}")
    return n


def root(leaves: Sequence[bytes], size: int | None = None) -> bytes:
    """MTH of the first ``size`` leaf hashes (all by default); the empty tree's is SHA-256 of the empty string."""
    n = _size(leaves, size)
    return _subtree(leaves, 0, n) if n else hashlib.sha256(b"").digest()


def inclusion_path(index: int, leaves: Sequence[bytes], size: int | None = None) -> list[bytes]:
    """PATH(index, D[size]): the audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    n = _size(leaves, size)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} is not in a tree of size {n}")
    siblings = []  # from the top of the tree down; PATH lists them from the leaf up
    lo, hi = 0, n
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            siblings.append(_subtree(leaves, lo + k, hi))
            hi = lo + k
        else:
            siblings.append(_subtree(leaves, lo, lo + k))
            lo += k
    return siblings[::-1]


def consistency_proof(old_size: int, leaves: Sequence[bytes], size: int | None = None) -> list[bytes]:
    """PROOF(old_size, D[size]) for 0 < old_size <= size (empty when they are equal)."""
    n = _size(leaves, size)
    if not 0 < old_size <= n:
        raise ValueError(f"no consistency proof from size {old_size} to size {n} (needs 0 < old <= new)")

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [_subtree(leaves, lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return subproof(m, lo, lo + k, complete) + [_subtree(leaves, lo + k, hi)]
        return subproof(m - k, lo + k, hi, False) + [_subtree(leaves, lo, lo + k)]

    return subproof(old_size, 0, n, True)


def _well_formed(hashes: Sequence[bytes]) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 2.1.3.2: whether ``path`` proves leaf hash ``leaf`` at ``index`` in the tree of ``size`` with
    ``root_hash``."""
    if not (0 <= index < size) or not _well_formed([leaf, root_hash, *path]):
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(r, root_hash)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: whether ``proof`` shows the tree of ``old_size`` with ``old_root`` is a prefix of the tree of
    ``new_size`` with ``new_root``. Equal sizes (outside the RFC's algorithm, which starts from first < second) hold
    with an empty proof and equal roots; size 0 is refused (there is nothing to be consistent with)."""
    if not (0 < old_size <= new_size) or not _well_formed([old_root, new_root, *proof]):
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if not proof:  # step 1
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: an exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root) and sn == 0  # step 7
