"""RFC 6962 / RFC 9162 Merkle tree shapes over SM3 (SH-8.4.5 "blockchain or similar").

leaf hash = SM3(0x00 ‖ entry), node hash = SM3(0x01 ‖ left ‖ right); the tree of n leaves splits at the
largest power of two below n. Stored nodes are the perfect, aligned subtrees (``level``, ``index``):
level 0 holds the leaves, a node at level L and index i covers leaves [i·2^L, (i+1)·2^L). Any proof then
needs O(log n) stored nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pharmatrace.kernel.crypto import SM3_SIZE, sm3

NodeLookup = Callable[[int, int], bytes]  # (level, index) -> hash of a stored perfect subtree


def leaf_hash(entry: bytes) -> bytes:
    return sm3(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sm3(b"\x01" + left + right)


EMPTY_ROOT = sm3(b"")


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass
class Frontier:
    """The right edge of the tree: roots of the perfect subtrees that make up ``size`` leaves."""

    size: int = 0
    subtrees: list[tuple[int, bytes]] = field(default_factory=list)  # (level, hash), largest first

    def push(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; returns every new stored node ``(level, index, hash)``, the leaf first."""
        created = [(0, self.size, leaf)]
        self.subtrees.append((0, leaf))
        self.size += 1
        while len(self.subtrees) >= 2 and self.subtrees[-1][0] == self.subtrees[-2][0]:
            (level, right), (_, left) = self.subtrees.pop(), self.subtrees.pop()
            merged = node_hash(left, right)
            self.subtrees.append((level + 1, merged))
            created.append((level + 1, (self.size >> (level + 1)) - 1, merged))
        return created

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
