"""The unit of work captures every create, modify, void of GMP records, with reason (TJ-B.2.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select, text

from helpers import actor, audit_entries, count_rows
from pharmatrace.kernel import ledger, merkle
from pharmatrace.kernel.errors import N_, Conflict, KernelBypass, Msgid, ReasonRequired, Reasons
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.trace.models import Customer
from pharmatrace.wms import service as wms
from pharmatrace.wms.models import Material
from pharmatrace.wms.schemas import MaterialCreate

NEW_HERB = MaterialCreate(
    code="HB-CX-001", name="川芎（中药材）", kind="herb", unit="kg", storage_condition="阴凉干燥"
)


@pytest.mark.clause("SH-7.1.3", "TJ-B.2.5", "TJ-10.1.1.1", "TJ-10.1.1.2.c")
def test_a_create_is_captured_with_operator_time_and_new_values(db: Database) -> None:
    keeper = actor(db, "zhouqiang")
    with UnitOfWork(db, keeper) as uow:
        material = wms.create_material(uow, NEW_HERB)
        uow.commit()
    [entry] = audit_entries(db, object_type="material", object_id=str(material.id))
    assert entry.event == "create"
    assert (entry.actor_id, entry.actor_name) == (keeper.user_id, "周强")
    assert entry.changes["code"] == [None, "HB-CX-001"]
    assert entry.changes["name"] == [None, "川芎（中药材）"]
    assert entry.at.tzinfo is not None


@pytest.mark.clause("SH-7.1.3", "TJ-B.2.5", "TJ-10.1.1.2.c", "TJ-10.1.4.2.a")
def test_a_modification_records_old_and_new_values_and_the_reason(db: Database) -> None:
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="供应商更正贮藏条件") as uow:
        material = uow.session.scalar(select(Material).where(Material.code == "HB-DS-001"))
        assert material is not None
        old = material.storage_condition
        material.storage_condition = "阴凉干燥处，≤25 °C"
        uow.commit()
    entry = audit_entries(db, object_type="material", object_id=str(material.id))[-1]
    assert entry.event == "update"
    assert entry.reason == "供应商更正贮藏条件"
    assert entry.changes == {"storage_condition": [old, "阴凉干燥处，≤25 °C"]}


@pytest.mark.clause("TJ-10.1.1.1", "TJ-10.1.4.2.a", "SH-8.4.2")
def test_a_modification_without_a_reason_is_refused_and_changes_nothing(db: Database) -> None:
    before = count_rows(db, Material), len(audit_entries(db))
    with pytest.raises(ReasonRequired), UnitOfWork(db, actor(db, "zhouqiang")) as uow:
        material = uow.session.scalar(select(Material).where(Material.code == "HB-DS-001"))
        assert material is not None
        material.name = "被篡改"
        uow.commit()
    with db.sessions() as session:
        assert session.scalar(select(Material.name).where(Material.code == "HB-DS-001")) == "丹参（中药材）"
    assert (count_rows(db, Material), len(audit_entries(db))) == before


@pytest.mark.clause("SH-7.1.3", "TJ-10.1.6.1", "TJ-10.1.6.3.c")
def test_gmp_records_are_voided_never_deleted(db: Database) -> None:
    with pytest.raises(KernelBypass), UnitOfWork(db, actor(db, "zhouqiang"), reason="不再使用") as uow:
        material = uow.session.scalar(select(Material).where(Material.code == "HB-HH-001"))
        uow.session.delete(material)
        uow.commit()
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="不再使用") as uow:
        material = uow.session.scalar(select(Material).where(Material.code == "HB-HH-001"))
        assert material is not None
        wms.void_material(uow, material.id)
        uow.commit()
    entry = audit_entries(db, object_type="material", object_id=str(material.id))[-1]
    assert (entry.event, entry.reason) == ("void", "不再使用")
    assert count_rows(db, Material) == 12  # the demo seed's materials, none deleted


@pytest.mark.clause("SH-7.1.3", "TJ-B.2.5", "TJ-10.1.6.1")
def test_a_void_needs_a_reason_keeps_it_on_the_row_and_in_the_trail(db: Database) -> None:
    """``uow.void``: without any reason refused and nothing written; a reason given becomes the unit of work's, the
    row's ``void_reason`` where it keeps one, and the trail's ``void`` entry."""
    before = len(audit_entries(db))
    with pytest.raises(ReasonRequired), UnitOfWork(db, actor(db, "zhouqiang")) as uow:
        uow.void(_customer(uow))
    with pytest.raises(ReasonRequired), UnitOfWork(db, actor(db, "zhouqiang")) as uow:
        uow.void(_customer(uow), "   ")
    assert len(audit_entries(db)) == before
    with UnitOfWork(db, actor(db, "zhouqiang")) as uow:
        customer = _customer(uow)
        uow.void(customer, "  客户已注销  ")
        uow.commit()
    assert customer.voided_at is not None and customer.void_reason == "客户已注销"
    entry = audit_entries(db, object_type=Customer.__audit_type__, object_id=str(customer.id))[-1]
    assert (entry.event, entry.reason) == ("void", "客户已注销")
    assert entry.changes["void_reason"] == [None, "客户已注销"]
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="不再使用") as uow:
        material = uow.session.scalar(select(Material).where(Material.code == "HB-HH-001"))
        assert material is not None
        uow.void(material)  # a row without a void_reason column: the unit of work's reason, in the trail only
        uow.commit()
    entry = audit_entries(db, object_type="material", object_id=str(material.id))[-1]
    assert (entry.event, entry.reason) == ("void", "不再使用")


def _customer(uow: UnitOfWork) -> Customer:
    found = uow.session.scalar(select(Customer).where(Customer.code == "H-RJYY"))
    assert found is not None
    return found


@pytest.mark.clause("SH-7.1.3.b", "TJ-10.1.1.2.a")
def test_a_gmp_write_outside_the_unit_of_work_is_refused(db: Database) -> None:
    with pytest.raises(KernelBypass), db.sessions() as session:
        material = session.scalar(select(Material).where(Material.code == "HB-DS-001"))
        assert material is not None
        material.name = "绕过内核"
        session.commit()
    with pytest.raises(KernelBypass), db.sessions() as session:
        session.add(
            Material(
                code="X-1",
                name="x",
                kind="herb",
                unit="kg",
                storage_condition="",
                created_at=material.created_at,
                created_by="nobody",
            )
        )
        session.commit()


@pytest.mark.clause("TJ-10.1.6.2.b")
def test_work_that_is_not_committed_is_rolled_back(db: Database) -> None:
    before = count_rows(db, Material), len(audit_entries(db))
    with UnitOfWork(db, actor(db, "zhouqiang")) as uow:
        wms.create_material(uow, NEW_HERB)
    assert (count_rows(db, Material), len(audit_entries(db))) == before


@pytest.mark.clause("SH-7.1.3.b", "TJ-10.1.1.2.a")
def test_orm_bulk_updates_and_deletes_of_gmp_records_are_refused(db: Database) -> None:
    from sqlalchemy import delete, update

    with pytest.raises(KernelBypass), UnitOfWork(db, actor(db, "zhouqiang"), reason="批量修改") as uow:
        uow.session.execute(update(Material).values(unit="g"))
    with pytest.raises(KernelBypass), UnitOfWork(db, actor(db, "zhouqiang"), reason="批量删除") as uow:
        uow.session.execute(delete(Material))
    with db.sessions() as session:
        assert set(session.scalars(select(Material.unit))) >= {"kg"}


@pytest.mark.clause("SH-8.4.5", "TJ-B.2.5")
def test_the_trail_stores_changes_as_the_canonical_text_its_leaf_hashes(db: Database) -> None:
    with UnitOfWork(db, actor(db, "zhouqiang")) as uow:
        material = wms.create_material(uow, NEW_HERB)
        uow.commit()
    [entry] = audit_entries(db, object_type="material", object_id=str(material.id))
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT CAST(changes AS TEXT) FROM audit_entries WHERE id = :i"), {"i": entry.id}
        ).scalar_one()
    assert stored == ledger.canonical_text(entry.changes)
    assert "川芎（中药材）" in stored  # UTF-8 as it is, not \u escapes
    fields = {name: getattr(entry, name) for name in ledger.ENTRY_FIELDS}
    assert entry.leaf_hash == merkle.leaf_hash(ledger.entry_bytes(fields))
    assert entry.record_hash == ledger.current_record_hash(material)


@dataclass(frozen=True)
class _Reason:
    message: str
    params: dict[str, Any] = field(default_factory=dict)


class _Refused(Conflict):
    code = "refused_for_the_test"


@pytest.mark.clause("SH-7.1.3.a", "TJ-10.1.1.2.b", "TJ-10.1.6.2.b")
def test_a_refusal_takes_back_the_work_records_why_commits_and_raises(db: Database) -> None:
    keeper = actor(db, "zhouqiang")
    materials, trail = count_rows(db, Material), len(audit_entries(db))
    also_ran: list[bool] = []
    error = _Refused(
        N_("{what} refused: {reasons}"), what=Msgid("Issue"),
        reasons=Reasons([_Reason("{place} too warm", {"place": "WH-1"}), _Reason("a gap")]),
    )  # fmt: skip
    assert str(error) == "Issue refused: WH-1 too warm; a gap"  # untranslated, every placeholder filled in
    with pytest.raises(_Refused) as raised, UnitOfWork(db, keeper, reason="入库") as uow:
        wms.create_material(uow, NEW_HERB)  # written, then taken back by the refusal
        uow.checkpoint()  # signed in the transaction that is taken back: never handed to the witness
        uow.refuse(error, "test.refused", "material", "HB-CX-001", changes={"scan": [None, "X"]},
                   also=lambda u: also_ran.append(u is uow))  # fmt: skip
    assert raised.value is error and also_ran == [True]
    assert count_rows(db, Material) == materials
    entries = audit_entries(db)
    assert len(entries) == trail + 1
    refusal = entries[-1]
    assert (refusal.event, refusal.object_type, refusal.object_id, refusal.actor_login) == (
        "test.refused", "material", "HB-CX-001", "zhouqiang",
    )  # fmt: skip
    assert (refusal.reason, refusal.changes) == ("Issue refused: WH-1 too warm; a gap", {"scan": [None, "X"]})
    report = ledger.verify(db)
    assert report.intact, report


@pytest.mark.clause("SH-7.1.3.a")
def test_a_refusal_keeps_the_reason_it_is_given_and_writes_what_also_writes(db: Database) -> None:
    keeper = actor(db, "zhouqiang")

    def also(uow: UnitOfWork) -> None:
        wms.create_material(uow, NEW_HERB)  # e.g. the anomaly a refused issue raises

    with pytest.raises(_Refused), UnitOfWork(db, keeper) as uow:
        uow.refuse(_Refused(N_("No")), "test.refused", "material", 7, reason="x" * 3000, also=also)
    [refusal] = audit_entries(db, event="test.refused")
    assert (refusal.object_id, refusal.reason) == ("7", "x" * 2000)
    with db.sessions() as session:
        assert session.scalar(select(Material.id).where(Material.code == NEW_HERB.code)) is not None
