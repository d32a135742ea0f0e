"""Suppliers and the approved-supplier list; the material master's storage specification (issue 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from helpers import LOGIN_BY_ROLE, actor, audit_entries, behind_the_apps_back, count_rows, token
from pharmatrace.kernel import ledger
from pharmatrace.kernel.errors import Conflict, NotFound, ReasonRequired
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app
from pharmatrace.wms import service as wms
from pharmatrace.wms.models import Material, Supplier, SupplierApproval
from pharmatrace.wms.schemas import ApprovalDecision, MaterialCreate, SupplierCreate

QA = LOGIN_BY_ROLE["qa_reviewer"]
KEEPER = LOGIN_BY_ROLE["warehouse_keeper"]
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def problem(db: Database, supplier: str, material: str, at: datetime = NOW) -> str | None:
    with db.sessions() as session:
        found = wms.supplier_problem(session, supplier, material, at)
    return str(found) if found else None


@pytest.mark.clause("TJ-5.2.1.1", "SH-6.2.4")
def test_receipt_is_allowed_only_from_a_supplier_with_a_valid_approval(db: Database) -> None:
    assert problem(db, "SUP-SL-DS", "HB-DS-001") is None
    assert problem(db, "SUP-TL-MAN", "EXC-MAN-01") is None  # conditional approval still allows receipt
    assert (
        problem(db, "SUP-SL-DS", "EXC-MAN-01")
        == "商洛丹参规范化种植基地 is not on the approved-supplier list for 甘露醇（注射用）"
    )
    assert (
        problem(db, "SUP-JN-STP", "PP-STOP-20")
        == "江南医用胶塞有限公司 is suspended for 20 mm 冻干用覆膜胶塞"
    )
    assert (
        problem(db, "SUP-YM-HH", "HB-HH-001")
        == "The approval of 裕民红花种植合作社 for 红花（中药材） expired on 2026-10-31"
    )
    # valid through the last day of the approval in Beijing time, not UTC
    assert problem(db, "SUP-YM-HH", "HB-HH-001", datetime(2026, 10, 31, 15, 59, tzinfo=UTC)) is None
    assert problem(db, "SUP-XX", "HB-DS-001") == "“SUP-XX” is not a supplier of this plant"
    with db.sessions() as session, pytest.raises(wms.SupplierNotApproved):
        wms.require_approved_supplier(session, "SUP-JN-STP", "PP-STOP-20", NOW)


@pytest.mark.clause("SH-6.2.4", "TJ-10.1.1.1", "TJ-10.1.1.2.c")
def test_qa_decisions_change_the_list_with_a_reason_in_the_trail(db: Database) -> None:
    qa = actor(db, QA)
    decision = ApprovalDecision(
        supplier_code="SUP-JN-STP", material_code="PP-STOP-20", status="approved",
        valid_until=date(2027, 6, 30), reason="现场审计关闭，恢复合格",
    )  # fmt: skip
    with UnitOfWork(db, qa, reason=decision.reason) as uow:
        wms.decide_approval(uow, decision)
        uow.commit()
    assert problem(db, "SUP-JN-STP", "PP-STOP-20") is None
    change = audit_entries(db, object_type="supplier_approval")[-1]
    assert change.event == "update" and change.reason == "现场审计关闭，恢复合格"
    assert change.changes["status"] == ["suspended", "approved"]
    assert change.actor_login == QA
    with UnitOfWork(db, qa, reason="重复") as uow, pytest.raises(Conflict):
        wms.decide_approval(uow, decision)  # nothing new to record


@pytest.mark.clause("SH-6.2.4", "TJ-10.1.3.2.b")
def test_bad_decisions_and_suppliers_are_refused_and_change_nothing(db: Database) -> None:
    with pytest.raises(ValidationError, match="An approval needs the date"):
        ApprovalDecision(
            supplier_code="SUP-SL-DS", material_code="HB-DS-001", status="approved", reason="审计合格"
        )
    with pytest.raises(ValidationError):
        SupplierCreate(code="x", name="小写代码", kind="manufacturer")
    before = count_rows(db, Supplier), count_rows(db, SupplierApproval)
    qa = actor(db, QA)
    with UnitOfWork(db, qa) as uow, pytest.raises(Conflict, match="already taken"):
        wms.create_supplier(uow, SupplierCreate(code="SUP-SL-DS", name="重复", kind="planting_base"))
    with UnitOfWork(db, qa, reason="测试") as uow, pytest.raises(NotFound, match="No material with code"):
        wms.decide_approval(uow, ApprovalDecision(supplier_code="SUP-SL-DS", material_code="NOPE-1",
                                                  status="suspended", reason="测试"))  # fmt: skip
    assert (count_rows(db, Supplier), count_rows(db, SupplierApproval)) == before


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.6.1", "SH-8.4.5")
def test_suppliers_are_voided_with_a_reason_and_never_deleted(db: Database) -> None:
    qa = actor(db, QA)
    with db.sessions() as session:
        supplier_id = session.scalar(select(Supplier.id).where(Supplier.code == "SUP-LZ-GLS"))
    assert supplier_id is not None
    with UnitOfWork(db, qa) as uow, pytest.raises(ReasonRequired):
        wms.void_supplier(uow, supplier_id)
        uow.commit()
    with UnitOfWork(db, qa, reason="停止合作") as uow:
        wms.void_supplier(uow, supplier_id)
        uow.commit()
    assert problem(db, "SUP-LZ-GLS", "PP-VIAL-10") == "“SUP-LZ-GLS” is not a supplier of this plant"
    for table in ("suppliers", "supplier_approvals"):
        with pytest.raises(DBAPIError, match="refused"), behind_the_apps_back(db) as conn:
            conn.execute(text(f"DELETE FROM {table}"))
    assert ledger.verify(db).intact


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-5.2.1.2", "TJ-6.3.1", "TJ-10.1.3.2.b")
def test_storage_limits_shelf_life_and_retest_are_checked_at_the_edge_and_in_the_database(
    db: Database,
) -> None:
    good = {"code": "EXC-NACL-01", "name": "氯化钠（注射用）", "kind": "excipient", "unit": "kg"}
    with pytest.raises(ValidationError, match="lowest storage temperature is above"):
        MaterialCreate(**good, temp_min_c=Decimal("25"), temp_max_c=Decimal("8"))
    with pytest.raises(ValidationError, match="retest period is longer"):
        MaterialCreate(**good, shelf_life_months=12, retest_months=24)
    with pytest.raises(ValidationError):
        MaterialCreate(**good, humidity_max_pct=Decimal("0"))
    with pytest.raises(ValidationError):
        MaterialCreate(**good, temp_max_c=Decimal("8.25"))  # one decimal place
    keeper = actor(db, KEEPER)
    with UnitOfWork(db, keeper) as uow, pytest.raises(IntegrityError):
        uow.session.add(Material(**good, storage_condition="", temp_min_c=Decimal("25"), temp_max_c=Decimal("8"),
                                 created_at=NOW, created_by=KEEPER))  # fmt: skip
        uow.session.flush()
    with UnitOfWork(db, keeper) as uow:
        wms.create_material(uow, MaterialCreate(**good, temp_min_c=Decimal("2"), temp_max_c=Decimal("30"),
                                                shelf_life_months=36, retest_months=12))  # fmt: skip
        uow.commit()
    with db.sessions() as session:
        stored = session.scalars(select(Material).where(Material.code == "EXC-NACL-01")).one()
        assert (stored.temp_min_c, stored.temp_max_c, stored.retest_months) == (
            Decimal("2.0"),
            Decimal("30.0"),
            12,
        )
    assert ledger.verify(db).intact  # the stored decimals are the bytes the ledger committed to


@pytest.mark.clause("SH-7.1.2", "SH-6.2.4", "TJ-5.2.1.1")
def test_the_api_lets_qa_keep_the_list_and_anyone_in_the_warehouse_check_a_supplier(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        qa = token(client, QA)
        created = client.post("/api/v1/suppliers", headers=qa,
                              json={"code": "SUP-NEW-01", "name": "新供应商", "kind": "distributor"})  # fmt: skip
        assert created.status_code == 201, created.text
        keeper = token(client, KEEPER)
        refused = client.post("/api/v1/suppliers", headers=keeper,
                              json={"code": "SUP-NEW-02", "name": "仓库自建", "kind": "distributor"})  # fmt: skip
        assert refused.status_code == 403
        decided = client.post("/api/v1/supplier-approvals", headers=qa, json={
            "supplier_code": "SUP-NEW-01", "material_code": "EXC-MAN-01", "status": "approved",
            "valid_until": "2027-12-31", "reason": "审计合格"})  # fmt: skip
        assert decided.status_code == 200, decided.text
        check = client.get("/api/v1/supplier-approvals/check", headers=keeper,
                           params={"supplier": "sup-jn-stp", "material": "PP-STOP-20"})  # fmt: skip
        assert check.json() == {
            "approved": False,
            "reason": "江南医用胶塞有限公司 对 20 mm 冻干用覆膜胶塞 已暂停",
        }
        listed = client.get("/api/v1/supplier-approvals", headers=keeper).json()
        assert {a["supplier_code"] for a in listed} >= {"SUP-NEW-01", "SUP-SL-DS"}
        missing_date = client.post("/api/v1/supplier-approvals", headers=qa, json={
            "supplier_code": "SUP-NEW-01", "material_code": "PP-VIAL-10", "status": "approved", "reason": "审计合格"})  # fmt: skip
        assert missing_date.status_code == 422


@pytest.mark.clause("SH-6.2.4", "TJ-5.2.1.1", "SH-7.1.3")
def test_the_supplier_page_shows_the_list_and_refuses_an_undated_approval(db: Database) -> None:
    with db.sessions() as session:
        supplier_id = session.scalar(select(Supplier.id).where(Supplier.code == "SUP-YM-HH"))
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": QA, "password": "Pharma@2026"})
        page = client.get(f"/wms/suppliers/{supplier_id}")
        assert page.status_code == 200
        assert "裕民红花种植合作社" in page.text and "2026-10-31" in page.text and "已过期" not in page.text
        assert "的批准已于 2026-10-31 过期" in page.text
        before = count_rows(db, SupplierApproval)
        refused = client.post(f"/wms/suppliers/{supplier_id}/approvals",
                              data={"material_code": "HB-DS-001", "status": "approved", "valid_until": "", "reason": "评价合格"})  # fmt: skip
        assert refused.status_code == 422
        assert "批准需要注明有效期" in refused.text
        assert count_rows(db, SupplierApproval) == before
        done = client.post(f"/wms/suppliers/{supplier_id}/approvals", follow_redirects=False,
                           data={"material_code": "HB-HH-001", "status": "approved", "valid_until": "2027-10-31",
                                 "reason": "年度再评价合格"})  # fmt: skip
        assert done.status_code == 303
        assert "批准需要" not in client.get(f"/wms/suppliers/{supplier_id}").text
