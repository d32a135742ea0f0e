"""Inclusion and consistency proofs checked offline (SH-8.4.5): what an inspector takes away and verifies
without the database. A proof is checked by itself, so these run once per database, not once per way of
verifying the ledger as tests/kernel/test_ledger.py does; each corruption of one proof must fail the check.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from helpers import actor, checkpoint, new_material
from pharmatrace.kernel import ledger
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material

pytestmark = pytest.mark.clause("SH-8.4.5")


@pytest.fixture
def proof(db: Database) -> dict[str, object]:
    material = new_material(db, "HB-PF-001")
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="更正名称") as uow:
        row = uow.session.get(Material, material.id)
        assert row is not None
        row.name = "黄芪（中药材，更正）"
        uow.commit()
    checkpoint(db)
    with db.sessions() as session:
        return ledger.prove(session, "material", str(material.id))


def _check(document: object) -> list[str]:
    return ledger.check_proof(json.dumps(document, ensure_ascii=False).encode())


def _mutated(proof: dict[str, object], change) -> dict[str, object]:  # type: ignore[no-untyped-def]
    copy = json.loads(json.dumps(proof))
    change(copy)
    return copy


def test_a_proof_checks_offline(proof: dict[str, object]) -> None:
    assert _check(proof) == []
    assert len(proof["entries"]) == 2  # type: ignore[arg-type]
    fingerprint = proof["checkpoint"]["key"]  # type: ignore[index]
    assert ledger.check_proof(json.dumps(proof).encode(), trusted_key=fingerprint) == []
    assert ledger.check_proof(json.dumps(proof).encode(), trusted_key="0" * 16) != []


def _flip_hex(value: str) -> str:
    return ("1" if value[0] == "0" else "0") + value[1:]


PROOF_CORRUPTIONS = (
    ("wrong index", lambda p: p["entries"][0].update(leaf_index=p["entries"][0]["leaf_index"] + 1)),
    ("wrong size", lambda p: p["checkpoint"].update(tree_size=p["checkpoint"]["tree_size"] + 1)),
    (
        "wrong leaf",
        lambda p: p["entries"][0].update(entry=p["entries"][0]["entry"].replace("物料", "药料")),
    ),
    ("wrong root", lambda p: p["checkpoint"].update(root=_flip_hex(p["checkpoint"]["root"]))),
    (
        "wrong path",
        lambda p: p["entries"][0]["path"].__setitem__(0, _flip_hex(p["entries"][0]["path"][0])),
    ),
    (
        "short path node",
        lambda p: p["entries"][0]["path"].__setitem__(0, p["entries"][0]["path"][0][:-2]),
    ),
    (
        "forged signature",
        lambda p: p["checkpoint"].update(signature=_flip_hex(p["checkpoint"]["signature"])),
    ),
    ("other record", lambda p: p.update(object="material:1")),
    ("extra field", lambda p: p["checkpoint"].update(note="trust me")),
)


def test_corrupted_proofs_fail(proof: dict[str, object]) -> None:
    """Each corruption of one proof, checked offline: none of them passes (one proof built, nine checks)."""
    passed = [name for name, change in PROOF_CORRUPTIONS if _check(_mutated(proof, change)) == []]
    assert passed == []


@pytest.fixture
def consistency(db: Database) -> tuple[Database, dict[str, object]]:
    """The seed's checkpoint is what an inspector kept; since then the plant went on recording."""
    with db.sessions() as session:
        kept = session.scalars(select(ledger.LedgerCheckpoint.tree_size)).all()[-1]
    new_material(db, "HB-CS-001")
    new_material(db, "HB-CS-002")
    checkpoint(db)
    with db.sessions() as session:
        return db, ledger.prove_consistency(session, kept)


def _check_consistency(document: object) -> list[str]:
    return ledger.check_consistency(json.dumps(document, ensure_ascii=False).encode())


def test_a_consistency_proof_shows_the_newer_tree_extends_the_kept_one(
    consistency: tuple[Database, dict[str, object]],
) -> None:
    _, document = consistency
    assert _check_consistency(document) == []
    assert document["old"]["tree_size"] < document["new"]["tree_size"]  # type: ignore[index]
    fingerprint = document["new"]["key"]  # type: ignore[index]
    assert ledger.check_consistency(json.dumps(document).encode(), trusted_key=fingerprint) == []
    assert ledger.check_consistency(json.dumps(document).encode(), trusted_key="0" * 16) != []
    with consistency[0].sessions() as session, pytest.raises(LookupError, match="no signed checkpoint"):
        ledger.prove_consistency(session, 3)


CONSISTENCY_CORRUPTIONS = (
    ("rewritten history", lambda d: d["old"].update(root=_flip_hex(d["old"]["root"]))),
    ("other newer root", lambda d: d["new"].update(root=_flip_hex(d["new"]["root"]))),
    ("wrong old size", lambda d: d["old"].update(tree_size=d["old"]["tree_size"] - 1)),
    ("sizes swapped", lambda d: d.update(old=d["new"], new=d["old"])),
    ("proof node changed", lambda d: d["proof"].__setitem__(0, _flip_hex(d["proof"][0]))),
    ("proof node dropped", lambda d: d["proof"].pop()),
    ("proof node added", lambda d: d["proof"].append("00" * 32)),
    ("forged signature", lambda d: d["new"].update(signature=_flip_hex(d["new"]["signature"]))),
    ("extra field", lambda d: d.update(note="trust me")),
)


def test_corrupted_consistency_proofs_fail(consistency: tuple[Database, dict[str, object]]) -> None:
    passed = [name for name, change in CONSISTENCY_CORRUPTIONS
              if _check_consistency(_mutated(consistency[1], change)) == []]  # fmt: skip
    assert passed == []


def test_trailing_bytes_and_garbage_fail(proof: dict[str, object]) -> None:
    good = json.dumps(proof).encode()
    assert ledger.check_proof(good) == []
    assert ledger.check_proof(good + b"x") != []
    assert ledger.check_proof(good + b"{}") != []
    assert ledger.check_proof(b"\xff\xfe") != []
    assert ledger.check_proof(b"[]") != []
