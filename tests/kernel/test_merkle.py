"""The Merkle tree against a naive RFC 6962 reference: roots, inclusion and consistency proofs."""

from __future__ import annotations

import random

import pytest

from pharmatrace.kernel import merkle


def reference_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def build(n: int) -> tuple[list[bytes], dict[tuple[int, int], bytes], merkle.Frontier]:
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(n)]
    frontier, nodes = merkle.Frontier(), {}
    for leaf in leaves:
        for level, index, digest in frontier.push(leaf):
            nodes[(level, index)] = digest
    return leaves, nodes, frontier


SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100]


@pytest.mark.clause("SH-8.4.5")
@pytest.mark.parametrize("n", SIZES)
def test_roots_match_the_reference_tree(n: int) -> None:
    leaves, nodes, frontier = build(n)
    assert frontier.root() == reference_root(leaves)
    assert merkle.subtree_hash(lambda lv, i: nodes[(lv, i)], 0, n) == reference_root(leaves)
    assert merkle.Frontier.from_json(n, frontier.to_json()).root() == frontier.root()
    assert len(nodes) == 2 * n - bin(n).count("1")  # leaves plus every completed perfect subtree


@pytest.mark.clause("SH-8.4.5")
@pytest.mark.parametrize("n", SIZES)
def test_every_inclusion_proof_verifies_and_wrong_ones_do_not(n: int) -> None:
    """(The tree size is bound by the signed checkpoint, not by the path: see test_ledger's proof checks.)"""
    leaves, nodes, frontier = build(n)
    root = frontier.root()
    lookup = lambda lv, i: nodes[(lv, i)]  # noqa: E731
    for index in range(n):
        proof = merkle.inclusion_proof(lookup, index, n)
        assert len(proof) <= max(1, n.bit_length())
        assert merkle.verify_inclusion(leaves[index], index, n, proof, root)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, n, proof, root)
        if n > 1:
            assert not merkle.verify_inclusion(leaves[index], (index + 1) % n, n, proof, root)
        assert not merkle.verify_inclusion(
            leaves[index], index, n, [*proof, proof[0] if proof else root], root
        )
        assert not merkle.verify_inclusion(leaves[index], index, n, proof, merkle.leaf_hash(b"other root"))


@pytest.mark.clause("SH-8.4.5")
def test_consistency_proofs_between_every_pair_of_sizes() -> None:
    leaves, nodes, _ = build(40)
    lookup = lambda lv, i: nodes[(lv, i)]  # noqa: E731
    roots = {m: reference_root(leaves[:m]) for m in range(1, 41)}
    for m in range(1, 41):
        for n in range(m, 41):
            proof = merkle.consistency_proof(lookup, m, n)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            if m < n:
                assert not merkle.verify_consistency(m, n, roots[m], merkle.leaf_hash(b"x"), proof)
                assert not merkle.verify_consistency(m, n, merkle.leaf_hash(b"x"), roots[n], proof)


@pytest.mark.clause("SH-8.4.5")
def test_proof_size_is_logarithmic_at_a_million_leaves() -> None:
    """Only the nodes a proof touches are computed: O(log n) lookups, whatever n is."""
    n, touched = 1_000_000, []

    def lookup(level: int, index: int) -> bytes:
        touched.append((level, index))
        return merkle.leaf_hash(f"{level}:{index}".encode())

    proof = merkle.inclusion_proof(lookup, random.Random(7).randrange(n), n)
    assert len(proof) <= 20 and len(touched) <= 2 * 20


@pytest.mark.clause("SH-8.4.5")
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 16, 31, 64, 100])
def test_levels_and_decompose_give_the_roots_the_frontier_gives(n: int) -> None:
    """Verification builds the tree a block at a time: the same roots, at every size."""
    leaves, nodes, _ = build(n)
    block = merkle.levels(leaves)
    for level, hashes in enumerate(block):
        assert hashes == [nodes[(level, i)] for i in range(n >> level)]
    for size in range(1, n + 1):
        rebuilt = merkle.Frontier()
        for level, digest in merkle.decompose(block, size):
            rebuilt.push_subtree(level, digest)
        assert rebuilt.size == size and rebuilt.root() == reference_root(leaves[:size])


@pytest.mark.clause("SH-8.4.5")
def test_subtrees_join_only_where_they_are_aligned() -> None:
    leaves, _, _ = build(24)
    whole = merkle.Frontier()
    for level, digest in merkle.decompose(merkle.levels(leaves[:16]), 16):
        whole.push_subtree(level, digest)
    copy = whole.copy()
    for level, digest in merkle.decompose(merkle.levels(leaves[16:]), 8):
        whole.push_subtree(level, digest)
    assert whole.root() == reference_root(leaves) and copy.root() == reference_root(leaves[:16])
    with pytest.raises(ValueError, match="cannot start"):
        merkle.Frontier(size=3).push_subtree(2, leaves[0])


@pytest.mark.clause("SH-8.4.5")
def test_push_can_leave_out_the_lower_levels() -> None:
    every, stored = merkle.Frontier(), merkle.Frontier()
    for i in range(40):
        leaf = merkle.leaf_hash(f"entry {i}".encode())
        assert stored.push(leaf, 4) == [node for node in every.push(leaf) if node[0] >= 4]
    assert stored.root() == every.root()


@pytest.mark.clause("SH-8.4.5")
def test_hashes_are_sm3_with_the_rfc_6962_prefixes() -> None:
    from pharmatrace.kernel.crypto import sm3

    assert merkle.leaf_hash(b"entry") == sm3(b"\x00entry")
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == sm3(b"\x01" + b"L" * 32 + b"R" * 32)
