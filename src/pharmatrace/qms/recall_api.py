"""``/api/v1/qms/recalls``: recalls (召回; SH-6.2.4, TJ-9.1) — the impact preview from the genealogy, the draft,
the signed opening that freezes the impact, customer notifications, returns and the signed closure; the customer
notification list as CSV (audited). Reading needs ``qms.view``; drafts, notifications and returns
``qms.recall.manage``; opening and closing ``qms.release.decide`` (the qualified person, by signature)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import recalls as service
from pharmatrace.qms.recall_schemas import (
    Acknowledgement,
    CustomerPublic,
    DecisionPublic,
    Notification,
    RecallCancel,
    RecallClose,
    RecallCreate,
    RecallDetail,
    RecallOpen,
    RecallPublic,
    ReturnCreate,
    ReturnPublic,
)
from pharmatrace.trace.recall import RecallImpact
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/qms/recalls", tags=["qms"])

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires(service.MANAGE_PERMISSION))]
QP = Annotated[Principal, Depends(Requires(service.DECIDE_PERMISSION))]


@router.get("", response_model=list[RecallPublic])
def list_recalls(db: DbDep, _: QmsView, status: str = "", q: str = "") -> list[RecallPublic]:
    """Recalls, newest first, with their progress (customers notified, units returned of shipped)."""
    with db.sessions() as session:
        return [service.recall_public(r) for r in service.list_recalls(session, status=status, text=q)]


@router.get("/impact", response_model=RecallImpact)
def impact(ref: str, db: DbDep, _: QmsView) -> RecallImpact:
    """What a recall of a batch or lot number would reach now (the genealogy's forward trace)."""
    with db.sessions() as session:
        return service.preview(session, ref)


@router.post("", response_model=RecallDetail, status_code=201)
def create(body: RecallCreate, db: DbDep, principal: Manager) -> RecallDetail:
    """A new recall, as a draft."""
    with uow_for(db, principal) as uow:
        recall = service.create_recall(uow, principal, body)
        uow.commit()
        return service.recall_detail(uow.session, recall)


@router.get("/{number}", response_model=RecallDetail)
def get_recall(number: str, db: DbDep, _: QmsView) -> RecallDetail:
    with db.sessions() as session:
        return service.recall_detail(session, service.get_recall(session, number))


@router.post("/{number}/open", response_model=DecisionPublic)
def open_recall(number: str, body: RecallOpen, db: DbDep, principal: QP) -> DecisionPublic:
    """Opened by the qualified person's signature: the impact is frozen, released lots held (unless a drill)."""
    with uow_for(db, principal) as uow:
        decision = service.open_recall(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


def _customer(uow: UnitOfWork, number: str, code: str) -> CustomerPublic:
    recall = service.get_recall(uow.session, number)
    uow.session.expire(recall)
    customer = service.customer_of(recall, code)
    return service.customer_public(recall, customer, service.returned_by_customer(recall).get(customer.id, 0))


@router.post("/{number}/customers/{code}/notify", response_model=CustomerPublic)
def notify(number: str, code: str, body: Notification, db: DbDep, principal: Manager) -> CustomerPublic:
    with uow_for(db, principal) as uow:
        service.notify(uow, principal, number, code, body)
        uow.commit()
        return _customer(uow, number, code)


@router.post("/{number}/customers/{code}/acknowledge", response_model=CustomerPublic)
def acknowledge(
    number: str, code: str, body: Acknowledgement, db: DbDep, principal: Manager
) -> CustomerPublic:
    with uow_for(db, principal) as uow:
        service.acknowledge(uow, principal, number, code, body)
        uow.commit()
        return _customer(uow, number, code)


@router.post("/{number}/customers/{code}/returns", response_model=ReturnPublic, status_code=201)
def record_return(number: str, code: str, body: ReturnCreate, db: DbDep, principal: Manager) -> ReturnPublic:
    """Units returned by a customer; never more in all than were shipped to it."""
    with uow_for(db, principal) as uow:
        row = service.record_return(uow, principal, number, code, body)
        uow.commit()
        return ReturnPublic(id=row.id, customer_code=code.strip(), quantity=row.quantity,
                            received_on=row.received_on, note=row.note, recorded_at=row.recorded_at,
                            recorded_by=row.recorded_by, recorded_by_name=row.recorded_by_name)  # fmt: skip


@router.post("/{number}/close", response_model=DecisionPublic)
def close(number: str, body: RecallClose, db: DbDep, principal: QP) -> DecisionPublic:
    """Closed by the qualified person's signature once every customer is notified."""
    with uow_for(db, principal) as uow:
        decision = service.close(uow, principal, number, body)
        uow.commit()
        return service.decision_public(uow.session, decision)


@router.post("/{number}/cancel", response_model=RecallDetail)
def cancel(number: str, body: RecallCancel, db: DbDep, principal: Manager) -> RecallDetail:
    with uow_for(db, principal, reason=body.reason) as uow:
        recall = service.cancel(uow, principal, number, body.reason)
        uow.commit()
        return service.recall_detail(uow.session, recall)


@router.get("/{number}/customers.csv")
def customers_csv(number: str, db: DbDep, principal: QmsView) -> Response:
    """The customer notification list as CSV; the export is recorded in the audit trail."""
    with uow_for(db, principal) as uow:
        name, data = service.export_notifications(uow, principal, number, i18n.gettext)
        uow.commit()
    return Response(data.encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})  # fmt: skip
