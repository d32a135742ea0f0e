"""Recalls, read like the SOP (《药品召回管理办法》): QA drafts a recall of a batch; the qualified person opens it by
signature and the impact the genealogy gives is frozen on it — exactly the units, shipments and customers the
trace gives; a real recall puts the released lot on hold and the public verification says "recalled"; the
customers are notified within the level's deadline; returns never exceed what was shipped; the recall is closed
by signature only once every customer is notified, and then changes no more. Every refusal changes nothing
(SH-6.2.4, TJ-9.1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from demo_codes import demo_codes
from helpers import count_rows, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.qms import recalls as service
from pharmatrace.qms.complaint_models import Complaint
from pharmatrace.qms.recall_models import Recall, RecallCustomer, RecallDecision, RecallReturn
from pharmatrace.qms.recall_schemas import (
    Acknowledgement,
    Notification,
    RecallClose,
    RecallCreate,
    RecallOpen,
    ReturnCreate,
)
from pharmatrace.storage.engine import Database
from pharmatrace.trace import genealogy
from pharmatrace.trace.models import TraceCode
from pharmatrace.trace.recall import impact
from pharmatrace.wms.models import Lot
from pharmatrace.wms.production import lot_of_batch

QA, QP, QP2, OPERATOR = "chenjing", "zhaomin", "qianyu", "zhangwei"


def _batch(db: Database) -> str:
    """The demo's completed batch, released and shipped (e.g. DH2611001)."""
    return demo_codes(db).batch_done


def _create(db: Database, login: str = QA, **changes: Any) -> str:
    data: dict[str, Any] = {"start_ref": _batch(db), "kind": "voluntary", "level": 1,
                            "hazard_assessment": "无菌检查阳性，使用可能引起严重健康危害（一级）",
                            "reason": "留样复检无菌不合格"}  # fmt: skip
    data.update(changes)
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        number = service.create_recall(uow, who, RecallCreate.model_validate(data)).number
        uow.commit()
    return number


def _write(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
    return result


def _open(db: Database, number: str, login: str = QP) -> None:
    _write(db, login, lambda uow, who: service.open_recall(
        uow, who, number, RecallOpen(password=DEMO_PASSWORD, login=login)))  # fmt: skip


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, m) for m in (Recall, RecallCustomer, RecallReturn, RecallDecision, Signature,
                                              AuditEntry))  # fmt: skip


def _refused(db: Database, error: Any, login: str, write: Any, match: str | None = None) -> None:
    """``write(uow, principal)`` is refused with ``error`` and changes nothing (rows and audit trail)."""
    before = _counts(db)
    with pytest.raises(error, match=match):
        _write(db, login, write)
    assert _counts(db) == before


def _recall(db: Database, number: str) -> Recall:
    with db.sessions() as session:
        recall = service.get_recall(session, number)
        for relation in (recall.customers, recall.returns, recall.decisions):
            assert relation is not None
        session.expunge_all()
        return recall


def _shipped_code(db: Database) -> str:
    with db.sessions() as session:
        batch_id = session.scalar(select(BatchOrder.id).where(BatchOrder.batch_no == _batch(db)))
        value = session.scalar(select(TraceCode.value).where(TraceCode.batch_order_id == batch_id,
                                                             TraceCode.state == "shipped").limit(1))  # fmt: skip
        assert value, "the demo ships units of the batch"
        return str(value)


def _lot(session: Any, batch: str) -> Lot:
    lot = lot_of_batch(session, batch)
    assert lot is not None, "the demo batch has its finished lot"
    return lot


def _opened(recall: Recall) -> datetime:
    assert recall.opened_at is not None
    return recall.opened_at


@pytest.mark.clause("SH-6.2.4", "TJ-9.1")
def test_the_demo_mock_recall_lists_exactly_what_the_genealogy_gives_and_holds_nothing(db: Database) -> None:
    batch = _batch(db)
    with db.sessions() as session:
        (demo,) = service.list_recalls(session)
        given = impact(session, batch)
        trace = genealogy.forward(session, batch)
        assert demo.kind == "mock" and demo.level == 3 and demo.status == "closed"
        assert [(c.customer_code, c.customer_name, c.shipments.split(","), c.units_shipped) for c in demo.customers] \
            == [(c.code, c.name, c.shipments, c.units) for c in given.customers]  # fmt: skip
        assert {c.customer_code for c in demo.customers} == {s.customer_code for s in trace.shipments}
        assert sum(c.units_shipped for c in demo.customers) == sum(s.units for s in trace.shipments)
        assert demo.shipped_units == given.shipped_units and demo.units_total == given.units_total
        assert [s["number"] for s in service.frozen_shipments(demo)] == [s.number for s in given.shipments]
        assert demo.customers and all(c.notified_at and c.acknowledged_at for c in demo.customers)
        assert service.returned_units(demo) == demo.returned_units == demo.shipped_units
        assert demo.notify_due == _opened(demo) + timedelta(days=7)  # level III: within 7 days
        assert demo.held_lots == "" and _lot(session, batch).status == "released"  # a drill holds nothing
        assert [d.kind for d in demo.decisions] == ["open", "close"]
        assert demo.decisions[0].content_sm3 == demo.impact_sm3 == service.impact_hash(demo)
        signed = [esign.manifestations(session, service.DECISION_TYPE, str(d.id)) for d in demo.decisions]
        assert [[(s.signer_login, s.status) for s in rows] for rows in signed] == [[(QP, "valid")],
                                                                                   [(QP2, "valid")]]  # fmt: skip


@pytest.mark.clause("SH-6.2.4", "TJ-9.1")
def test_a_recall_from_draft_to_closed_holds_the_lot_and_counts_notifications_and_returns(
    db: Database, client: TestClient
) -> None:
    batch = _batch(db)
    code = _shipped_code(db)
    assert client.get(f"/api/v1/public/verify/{code}").json()["verdict"] == "genuine"
    number = _create(db)
    assert number.startswith("RC-") and _recall(db, number).status == "draft"
    _refused(db, NotPermitted, QA, lambda uow, who: service.open_recall(
        uow, who, number, RecallOpen(password=DEMO_PASSWORD, login=QA)))  # fmt: skip  # not a qualified person
    _open(db, number)
    recall = _recall(db, number)
    with db.sessions() as session:
        given = impact(session, batch)
        lot = _lot(session, batch)
        assert lot.status == "on_hold" and lot.held_from == "released"
    # exactly the units and customers the genealogy gives
    assert [(c.customer_code, c.units_shipped) for c in recall.customers] == [
        (c.code, c.units) for c in given.customers
    ]
    assert recall.shipped_units == given.shipped_units and recall.units_total == given.units_total
    assert recall.held_lots == batch and recall.status == "open"
    assert recall.notify_due == _opened(recall) + timedelta(days=1)  # level I: within a day
    assert client.get(f"/api/v1/public/verify/{code}").json()["verdict"] == "recalled"

    assert recall.customers, "the demo batch was shipped"
    first = recall.customers[0]
    assert service.customer_overdue(recall, first, _opened(recall) + timedelta(days=2))
    assert not service.customer_overdue(recall, first, _opened(recall) + timedelta(hours=2))
    close = RecallClose(effectiveness="全部客户已通知，退回数量核对一致", password=DEMO_PASSWORD, login=QP2)
    pending = ", ".join(c.customer_code for c in recall.customers)
    _refused(db, service.RecallTransitionRefused, QP2, lambda uow, who: service.close(uow, who, number, close),
             match=pending)  # fmt: skip
    _write(db, QA, lambda uow, who: service.notify(uow, who, number, first.customer_code,
                                                   Notification(method="phone", note="采购部 王经理")))  # fmt: skip
    _refused(db, Conflict, QA, lambda uow, who: service.notify(uow, who, number, first.customer_code,
                                                               Notification(method="fax")))  # fmt: skip
    _write(
        db, QA, lambda uow, who: service.acknowledge(uow, who, number, first.customer_code, Acknowledgement())
    )

    # returns: append-only entries, never more in all than was shipped to that customer
    shipped = first.units_shipped
    assert shipped >= 2
    part = ReturnCreate(quantity=shipped - 1, received_on=service.today(), note="第一批退回")
    _write(db, QA, lambda uow, who: service.record_return(uow, who, number, first.customer_code, part))
    too_many = ReturnCreate(quantity=2, received_on=service.today())
    _refused(db, ValidationFailed, QA, lambda uow, who: service.record_return(
        uow, who, number, first.customer_code, too_many), match="too many")  # fmt: skip
    future = ReturnCreate(quantity=1, received_on=service.today() + timedelta(days=2))
    _refused(db, ValidationFailed, QA, lambda uow, who: service.record_return(
        uow, who, number, first.customer_code, future))  # fmt: skip
    last = ReturnCreate(quantity=1, received_on=service.today())
    _write(db, QA, lambda uow, who: service.record_return(uow, who, number, first.customer_code, last))
    _refused(db, NotFound, QA, lambda uow, who: service.record_return(uow, who, number, "NOBODY", last))
    _refused(db, NotPermitted, OPERATOR, lambda uow, who: service.acknowledge(
        uow, who, number, first.customer_code, Acknowledgement()))  # fmt: skip
    for other in recall.customers[1:]:
        _write(db, QA, lambda uow, who, code=other.customer_code: service.notify(
            uow, who, number, code, Notification(method="email")))  # fmt: skip
    decision = _write(db, QP2, lambda uow, who: service.close(uow, who, number, close))
    recall = _recall(db, number)
    assert recall.status == "closed" and recall.returned_units == shipped == service.returned_units(recall)
    assert decision.returned_units == shipped and decision.shipped_units == recall.shipped_units
    assert decision.content_sm3 == service.closure_hash(recall)
    with db.sessions() as session:
        (signature,) = esign.manifestations(session, service.DECISION_TYPE, str(decision.id))
        assert signature.signer_login == QP2 and signature.status == "valid"
        detail = service.recall_detail(session, service.get_recall(session, number))
        assert [(c.code, c.units_returned) for c in detail.customers] == [
            (c.customer_code, shipped if c.customer_code == first.customer_code else 0)
            for c in recall.customers
        ]
    # a closed recall changes no more
    _refused(db, service.RecallTransitionRefused, QA, lambda uow, who: service.record_return(
        uow, who, number, first.customer_code, last))  # fmt: skip
    _refused(db, service.RecallTransitionRefused, QA, lambda uow, who: service.notify(
        uow, who, number, first.customer_code, Notification(method="letter")))  # fmt: skip
    _refused(
        db, service.RecallTransitionRefused, QA, lambda uow, who: service.cancel(uow, who, number, "不再需要")
    )
    entries = [e.event for e in service_trail(db, recall)]
    assert entries.count("create") >= 1 and len(entries) >= 6


def service_trail(db: Database, recall: Recall) -> list[AuditEntry]:
    with db.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.object_type.like("qms_recall%"),
                                                             AuditEntry.object_id.in_([str(recall.id)]))))  # fmt: skip


@pytest.mark.clause("SH-6.2.4", "TJ-9.1")
def test_deadlines_by_level_a_mock_recall_holds_nothing_and_a_draft_is_cancelled(db: Database) -> None:
    batch = _batch(db)
    # a rejected packaging lot never charged: the genealogy reaches nothing from it
    uncharged_lot = demo_codes(db).lot("NB", 1)
    start = clock.now()
    assert [service.notify_deadline(start, level) - start for level in (1, 2, 3)] == [
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=7),
    ]
    number = _create(db, start_ref=uncharged_lot, kind="mock", level=2)
    _open(db, number)
    recall = _recall(db, number)
    assert recall.notify_due == _opened(recall) + timedelta(days=3)  # level II: within 3 days
    assert recall.customers == [] and recall.held_lots == "" and recall.start_kind == "material_lot"
    with db.sessions() as session:
        assert _lot(session, batch).status == "released"
    _refused(db, service.RecallTransitionRefused, QP, lambda uow, who: service.open_recall(
        uow, who, number, RecallOpen(password=DEMO_PASSWORD, login=QP)))  # fmt: skip  # opened once
    draft = _create(db, kind="mock", level=3)
    _refused(db, ValidationFailed, QA, lambda uow, who: service.cancel(uow, who, draft, " "))
    _write(db, QA, lambda uow, who: service.cancel(uow, who, draft, "演练改期"))
    cancelled = _recall(db, draft)
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "演练改期"
    _refused(db, service.RecallTransitionRefused, QP, lambda uow, who: service.open_recall(
        uow, who, draft, RecallOpen(password=DEMO_PASSWORD, login=QP)))  # fmt: skip


@pytest.mark.clause("SH-6.2.4", "TJ-9.1", "SH-7.1.3")
def test_the_api_refuses_bad_input_unknown_refs_and_people_without_the_permission(
    db: Database, client: TestClient
) -> None:
    batch = _batch(db)
    qa = token(client, QA)
    good = {"start_ref": batch, "kind": "voluntary", "level": 2, "hazard_assessment": "可能引起暂时的健康问题",
            "reason": "稳定性考察含量下降"}  # fmt: skip
    before = _counts(db)
    for bad in ({**good, "level": 4}, {**good, "kind": "urgent"}, {**good, "reason": ""},
                {**good, "start_ref": " "}, {**good, "extra": 1}):  # fmt: skip
        response = client.post("/api/v1/qms/recalls", json=bad, headers=qa)
        assert response.status_code == 422, (bad, response.text)
    assert (
        client.post("/api/v1/qms/recalls", json={**good, "start_ref": "NO-SUCH-LOT"}, headers=qa).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/qms/recalls", json={**good, "complaint": "CMP-2026-9999"}, headers=qa
        ).status_code
        == 404
    )
    assert client.post("/api/v1/qms/recalls", json=good, headers=token(client, OPERATOR)).status_code == 403
    assert client.get("/api/v1/qms/recalls", headers=token(client, OPERATOR)).status_code == 403
    assert _counts(db)[:5] == before[:5]

    preview = client.get("/api/v1/qms/recalls/impact", params={"ref": batch}, headers=qa)
    assert preview.status_code == 200
    with db.sessions() as session:  # the demo's complaint under investigation, on the same batch
        complaint = session.scalar(select(Complaint.number).where(Complaint.status == "investigating"))
    created = client.post("/api/v1/qms/recalls", json={**good, "complaint": complaint}, headers=qa)
    assert created.status_code == 201, created.text
    assert created.json()["complaint_number"] == complaint
    number = created.json()["number"]
    assert client.post(f"/api/v1/qms/recalls/{number}/open", json={"password": DEMO_PASSWORD},
                       headers=qa).status_code == 403  # fmt: skip  # QA reviewer: not a qualified person
    qp = token(client, QP)
    assert client.post(f"/api/v1/qms/recalls/{number}/open", json={"password": "wrong", "login": QP},
                       headers=qp).status_code in (401, 403)  # fmt: skip
    assert _recall(db, number).status == "draft"
    opened = client.post(f"/api/v1/qms/recalls/{number}/open", json={"password": DEMO_PASSWORD, "login": QP},
                         headers=qp)  # fmt: skip
    assert opened.status_code == 200, opened.text
    detail = client.get(f"/api/v1/qms/recalls/{number}", headers=qa).json()
    code = detail["customers"][0]["code"]
    shipped = detail["customers"][0]["units_shipped"]
    over = client.post(f"/api/v1/qms/recalls/{number}/customers/{code}/returns",
                       json={"quantity": shipped + 1, "received_on": str(service.today())}, headers=qa)  # fmt: skip
    assert over.status_code == 422 and str(shipped) in over.text
    assert client.post(f"/api/v1/qms/recalls/{number}/customers/{code}/returns",
                       json={"quantity": 0, "received_on": str(service.today())}, headers=qa).status_code == 422  # fmt: skip
    assert count_rows(db, RecallReturn) == before[2]
    assert client.post(f"/api/v1/qms/recalls/{number}/close",
                       json={"effectiveness": "尚未全部通知", "password": DEMO_PASSWORD},
                       headers=qp).status_code == 409  # fmt: skip
    notified = client.post(f"/api/v1/qms/recalls/{number}/customers/{code}/notify", json={"method": "visit"},
                           headers=qa)  # fmt: skip
    assert notified.status_code == 200 and notified.json()["notify_method"] == "visit"
    exported = client.get(f"/api/v1/qms/recalls/{number}/customers.csv", headers=qa)
    assert exported.status_code == 200 and code in exported.text
    assert any(e.event == "dataset.export" and e.object_type == "qms_recall" for e in service_trail_all(db))


def service_trail_all(db: Database) -> list[AuditEntry]:
    with db.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.object_type == "qms_recall")))
