"""RFC 6962 / RFC 9162 Merkle tree shapes over SM3 (SH-8.4.5 "blockchain or similar").

leaf hash = SM3(0x00 ‖ entry), node hash = SM3(0x01 ‖ left ‖ right); the tree of n leaves splits at the
largest power of two below n. Stored nodes are the perfect, aligned subtrees (``level``, ``index``):
level 0 holds the leaves, a node at level L and index i covers leaves [i·2^L, (i+1)·2^L). Any proof then
needs O(log n) stored nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pharmatrace.kernel.crypto import SM3_SIZE, sm3

NodeLookup = Callable[[int, int], bytes]  # (level, index) -> hash of a stored perfect subtree

# SM3 states that have already absorbed the domain prefix: copying one is cheaper than looking SM3 up by
# name for every hash, and the ledger hashes a million leaves and nodes per verification.
_LEAF_STATE = hashlib.new("sm3", b"\x00")
_NODE_STATE = hashlib.new("sm3", b"\x01")


def leaf_state() -> Any:
    """An SM3 state that has absorbed the leaf prefix: ``copy()`` it, ``update`` the entry, ``digest()``."""
    return _LEAF_STATE


def leaf_hash(entry: bytes) -> bytes:
    state = _LEAF_STATE.copy()
    state.update(entry)
    return state.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    state = _NODE_STATE.copy()
    state.update(left)
    state.update(right)
    return state.digest()


EMPTY_ROOT = sm3(b"")


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass
class Frontier:
    """The right edge of the tree: roots of the perfect subtrees that make up ``size`` leaves."""

    size: int = 0
    subtrees: list[tuple[int, bytes]] = field(default_factory=list)  # (level, hash), largest first

    def push(self, leaf: bytes, from_level: int = 0) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; returns the new nodes ``(level, index, hash)`` of ``from_level`` and up (the
        leaf itself first when that is 0)."""
        created = [(0, self.size, leaf)] if from_level == 0 else []
        subtrees = self.subtrees
        subtrees.append((0, leaf))
        self.size += 1
        while len(subtrees) >= 2 and subtrees[-1][0] == subtrees[-2][0]:
            (level, right), (_, left) = subtrees.pop(), subtrees.pop()
            merged = node_hash(left, right)
            subtrees.append((level + 1, merged))
            if level + 1 >= from_level:
                created.append((level + 1, (self.size >> (level + 1)) - 1, merged))
        return created

    def push_subtree(self, level: int, digest: bytes) -> None:
        """Append a whole perfect subtree of ``2**level`` leaves (the size must be a multiple of it)."""
        if self.size % (1 << level):
            raise ValueError(f"a subtree of level {level} cannot start at leaf {self.size}")
        self.subtrees.append((level, digest))
        self.size += 1 << level
        while len(self.subtrees) >= 2 and self.subtrees[-1][0] == self.subtrees[-2][0]:
            (level, right), (_, left) = self.subtrees.pop(), self.subtrees.pop()
            self.subtrees.append((level + 1, node_hash(left, right)))

    def copy(self) -> Frontier:
        return Frontier(size=self.size, subtrees=list(self.subtrees))

    def root(self) -> bytes:
        if not self.subtrees:
            return EMPTY_ROOT
        acc = self.subtrees[-1][1]
        for _, left in reversed(self.subtrees[:-1]):
            acc = node_hash(left, acc)
        return acc

    def to_json(self) -> list[list[object]]:
        return [[level, digest.hex()] for level, digest in self.subtrees]

    @classmethod
    def from_json(cls, size: int, data: Sequence[Sequence[object]]) -> Frontier:
        return cls(size=size, subtrees=[(int(str(level)), bytes.fromhex(str(h))) for level, h in data])


def levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every perfect subtree over ``leaves`` (a block starting at an aligned index), level by level.

    ``levels(l)[k][i]`` covers ``leaves[i * 2**k : (i + 1) * 2**k]``; an odd last node of a level waits
    for leaves the block does not have.
    """
    found = [leaves]
    current = leaves
    copy = _NODE_STATE.copy
    while len(current) > 1:
        pairs = iter(current)
        above = []
        for left, right in zip(pairs, pairs, strict=False):
            state = copy()
            state.update(left)
            state.update(right)
            above.append(state.digest())
        found.append(above)
        current = above
    return found


def decompose(block: list[list[bytes]], count: int) -> list[tuple[int, bytes]]:
    """The perfect subtrees ``(level, hash)`` covering the first ``count`` leaves of a block, largest first."""
    parts: list[tuple[int, bytes]] = []
    offset = 0
    for level in range(count.bit_length() - 1, -1, -1):
        if count >> level & 1:
            parts.append((level, block[level][offset >> level]))
            offset += 1 << level
    return parts


def subtree_hash(nodes: NodeLookup, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from stored perfect subtrees; O(log n) lookups for the ranges proofs use."""
    width = end - start
    if width <= 0:
        raise ValueError("empty range")
    if width & (width - 1) == 0 and start % width == 0:
        return nodes(width.bit_length() - 1, start // width)
    k = _split(width)
    return node_hash(subtree_hash(nodes, start, start + k), subtree_hash(nodes, start + k, end))


def inclusion_proof(nodes: NodeLookup, index: int, size: int) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(index, D[0:size])."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, start, start + k), subtree_hash(nodes, start + k, end)]
        return [*path(m - k, start + k, end), subtree_hash(nodes, start, start + k)]

    return path(index, 0, size)


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root implied by an inclusion proof, or None when the proof is malformed."""
    if not 0 <= index < size or any(len(p) != SM3_SIZE for p in proof):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    return root_from_inclusion(leaf, index, size, proof) == root


def consistency_proof(nodes: NodeLookup, first: int, second: int) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(first, D[0:second])."""
    if not 0 < first <= second:
        raise ValueError("bad sizes")

    def sub(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [subtree_hash(nodes, start, end)]
        k = _split(n)
        if m <= k:
            return [*sub(m, start, start + k, complete), subtree_hash(nodes, start + k, end)]
        return [*sub(m - k, start + k, end, False), subtree_hash(nodes, start, start + k)]

    return sub(first, 0, second, True)


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first <= 0 or first > second or any(len(p) != SM3_SIZE for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
