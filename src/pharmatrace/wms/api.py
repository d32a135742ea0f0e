"""``/api/v1/materials`` — the material master."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from pharmatrace.kernel.errors import N_, Conflict
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web.deps import DbDep, Requires, uow_for
from pharmatrace.wms import codes, lots, receipts, service
from pharmatrace.wms import labels as wms_labels
from pharmatrace.wms.codes import CodeRule, CodeRuleUpdate
from pharmatrace.wms.schemas import (
    ApprovalDecision,
    ApprovalPublic,
    ContainerPublic,
    LotDecision,
    LotDetail,
    LotEvent,
    LotPublic,
    MaterialCreate,
    MaterialPublic,
    ReceiptComplete,
    ReceiptCreate,
    ReceiptPublic,
    ScanIn,
    SupplierCheck,
    SupplierCreate,
    SupplierPublic,
)

router = APIRouter(tags=["materials"])

MaterialView = Annotated[Principal, Depends(Requires("wms.material.view"))]
MaterialManage = Annotated[Principal, Depends(Requires("wms.material.manage"))]
SupplierManage = Annotated[Principal, Depends(Requires("qms.supplier.manage"))]


@router.get("/materials", response_model=list[MaterialPublic])
def list_materials(db: DbDep, _: MaterialView, q: str = "", kind: str = "") -> list[MaterialPublic]:
    with db.sessions() as session:
        return [service.material_public(m) for m in service.list_materials(session, text=q, kind=kind)]


@router.post("/materials", response_model=MaterialPublic, status_code=201)
def create_material(body: MaterialCreate, db: DbDep, principal: MaterialManage) -> MaterialPublic:
    with uow_for(db, principal) as uow:
        material = service.create_material(uow, body)
        uow.commit()
        return service.material_public(material)


@router.post("/materials/{material_id}/void", response_model=MaterialPublic)
def void_material(material_id: int, body: ReasonOnly, db: DbDep, principal: MaterialManage) -> MaterialPublic:
    with uow_for(db, principal, body.reason) as uow:
        material = service.void_material(uow, material_id)
        uow.commit()
        return service.material_public(material)


@router.get("/suppliers", response_model=list[SupplierPublic], tags=["suppliers"])
def list_suppliers(db: DbDep, _: MaterialView, q: str = "", kind: str = "") -> list[SupplierPublic]:
    with db.sessions() as session:
        return [service.supplier_public(s) for s in service.list_suppliers(session, text=q, kind=kind)]


@router.post("/suppliers", response_model=SupplierPublic, status_code=201, tags=["suppliers"])
def create_supplier(body: SupplierCreate, db: DbDep, principal: SupplierManage) -> SupplierPublic:
    with uow_for(db, principal) as uow:
        supplier = service.create_supplier(uow, body)
        uow.commit()
        return service.supplier_public(supplier)


@router.post("/suppliers/{supplier_id}/void", response_model=SupplierPublic, tags=["suppliers"])
def void_supplier(supplier_id: int, body: ReasonOnly, db: DbDep, principal: SupplierManage) -> SupplierPublic:
    with uow_for(db, principal, body.reason) as uow:
        supplier = service.void_supplier(uow, supplier_id)
        uow.commit()
        return service.supplier_public(supplier)


@router.get("/supplier-approvals", response_model=list[ApprovalPublic], tags=["suppliers"])
def list_approvals(
    db: DbDep, _: MaterialView, supplier_id: int | None = None, material_id: int | None = None
) -> list[ApprovalPublic]:
    """The approved-supplier list (合格供应商目录), optionally for one supplier or one material."""
    with db.sessions() as session:
        found = service.list_approvals(session, supplier_id=supplier_id, material_id=material_id)
        return [service.approval_public(a) for a in found]


@router.post("/supplier-approvals", response_model=ApprovalPublic, tags=["suppliers"])
def decide_approval(body: ApprovalDecision, db: DbDep, principal: SupplierManage) -> ApprovalPublic:
    """QA approves, conditionally approves, suspends or disqualifies a supplier for a material."""
    with uow_for(db, principal, body.reason) as uow:
        approval = service.decide_approval(uow, body)
        uow.commit()
        return service.approval_public(approval)


@router.get("/supplier-approvals/check", response_model=SupplierCheck, tags=["suppliers"])
def check_supplier(supplier: str, material: str, db: DbDep, _: MaterialView) -> SupplierCheck:
    """May a lot of ``material`` from ``supplier`` (codes) be received now? If not, why."""
    from pharmatrace.web import i18n

    with db.sessions() as session:
        problem = service.supplier_problem(session, supplier.strip().upper(), material.strip().upper())
    return SupplierCheck(approved=problem is None, reason=i18n.error_message(problem) if problem else None)


# --- lots, containers, receipts and labels ----------------------------------------------------------

LotReceive = Annotated[Principal, Depends(Requires("wms.lot.receive"))]
LotSample = Annotated[Principal, Depends(Requires("lims.sample.manage"))]
LotDecide = Annotated[Principal, Depends(Requires("wms.material.approve"))]
StockMove = Annotated[Principal, Depends(Requires("wms.stock.move"))]
SettingsManage = Annotated[Principal, Depends(Requires("admin.settings.manage"))]


@router.get("/wms/code-rule", response_model=CodeRule, tags=["lots"])
def get_code_rule(db: DbDep, _: MaterialView) -> CodeRule:
    """The site's rule for internal lot numbers (default AAYYMMBBBBB, TJ-B.2.2.1)."""
    with db.sessions() as session:
        return codes.code_rule(session)


@router.put("/wms/code-rule", response_model=CodeRule, tags=["lots"])
def put_code_rule(body: CodeRuleUpdate, db: DbDep, principal: SettingsManage) -> CodeRule:
    """Change the rule (administrator, audited with the reason); numbers already given stay."""
    with uow_for(db, principal, body.reason) as uow:
        rule = codes.set_code_rule(uow, body)
        uow.commit()
    return rule


def _receipt(db: DbDep, receipt_id: int) -> ReceiptPublic:
    with db.sessions() as session:
        return receipts.receipt_public(receipts.get_receipt(session, receipt_id))


@router.get("/receipts", response_model=list[ReceiptPublic], tags=["receipts"])
def list_receipts(db: DbDep, _: MaterialView, status: str = "") -> list[ReceiptPublic]:
    with db.sessions() as session:
        return [receipts.receipt_public(r) for r in receipts.list_receipts(session, status=status)]


@router.post("/receipts", response_model=ReceiptPublic, status_code=201, tags=["receipts"])
def create_receipt(body: ReceiptCreate, db: DbDep, principal: LotReceive) -> ReceiptPublic:
    """Record an expected delivery; refused when the supplier is not approved for the material."""
    with uow_for(db, principal) as uow:
        receipt = receipts.create_receipt(uow, body)
        uow.commit()
        receipt_id = receipt.id
    return _receipt(db, receipt_id)


@router.get("/receipts/{receipt_id}", response_model=ReceiptPublic, tags=["receipts"])
def get_receipt(receipt_id: int, db: DbDep, _: MaterialView) -> ReceiptPublic:
    return _receipt(db, receipt_id)


@router.post(
    "/receipts/{receipt_id}/scans", response_model=ContainerPublic, status_code=201, tags=["receipts"]
)
def scan_container(receipt_id: int, body: ScanIn, db: DbDep, principal: LotReceive) -> ContainerPublic:
    """One container's label as the scanner sent it; the new container with its internal code."""
    with uow_for(db, principal) as uow:
        container = receipts.scan(uow, receipt_id, body)
        uow.commit()
        return lots.container_public(container)


@router.post("/receipts/{receipt_id}/complete", response_model=ReceiptPublic, tags=["receipts"])
def complete_receipt(
    receipt_id: int, body: ReceiptComplete, db: DbDep, principal: LotReceive
) -> ReceiptPublic:
    """Close the receipt with its checks; signed by the receiver (``receipt.complete``)."""
    with uow_for(db, principal) as uow:
        receipts.complete(uow, principal, receipt_id, body)
        uow.commit()
    return _receipt(db, receipt_id)


@router.post("/receipts/{receipt_id}/void", response_model=ReceiptPublic, tags=["receipts"])
def void_receipt(receipt_id: int, body: ReasonOnly, db: DbDep, principal: LotReceive) -> ReceiptPublic:
    """Void an open receipt started in error, with its lot and containers (never deleted)."""
    with uow_for(db, principal, body.reason) as uow:
        receipts.void_receipt(uow, receipt_id)
        uow.commit()
    return _receipt(db, receipt_id)


@router.get("/lots", response_model=list[LotPublic], tags=["lots"])
def list_lots(
    db: DbDep, _: MaterialView, material: str = "", status: str = "", q: str = ""
) -> list[LotPublic]:
    """Lots by material code and status; ``q`` finds a lot by a scanned code or GS1 string."""
    with db.sessions() as session:
        return [
            lots.lot_public(lot)
            for lot in lots.list_lots(session, material_code=material, status=status, text=q)
        ]


@router.get("/lots/{lot_id}", response_model=LotDetail, tags=["lots"])
def get_lot(lot_id: int, db: DbDep, _: MaterialView) -> LotDetail:
    with db.sessions() as session:
        return lots.lot_detail(lots.get_lot(session, lot_id))


def _event(
    db: DbDep, principal: Principal, reason: str, lot_id: int, apply: Callable[[UnitOfWork], object]
) -> LotDetail:
    with uow_for(db, principal, reason) as uow:
        apply(uow)
        uow.commit()
    return get_lot(lot_id, db, principal)


@router.post("/lots/{lot_id}/start-testing", response_model=LotDetail, tags=["lots"])
def start_testing(lot_id: int, body: LotEvent, db: DbDep, principal: LotSample) -> LotDetail:
    """QC samples the lot: quarantine → under test."""
    return _event(db, principal, body.reason, lot_id, lambda uow: lots.start_testing(uow, lot_id))


@router.post("/lots/{lot_id}/release", response_model=LotDetail, tags=["lots"])
def release_lot(lot_id: int, body: LotDecision, db: DbDep, principal: LotDecide) -> LotDetail:
    """QA release, signed (``lot.release``): under test → released."""
    return _event(db, principal, body.reason, lot_id,
                  lambda uow: lots.release(uow, principal, lot_id, body.password, body.login))  # fmt: skip


@router.post("/lots/{lot_id}/reject", response_model=LotDetail, tags=["lots"])
def reject_lot(lot_id: int, body: LotDecision, db: DbDep, principal: LotDecide) -> LotDetail:
    """QA rejection, signed (``lot.reject``)."""
    return _event(db, principal, body.reason, lot_id,
                  lambda uow: lots.reject(uow, principal, lot_id, body.password, body.login))  # fmt: skip


@router.post("/lots/{lot_id}/hold", response_model=LotDetail, tags=["lots"])
def hold_lot(lot_id: int, body: LotEvent, db: DbDep, principal: LotDecide) -> LotDetail:
    return _event(db, principal, body.reason, lot_id, lambda uow: lots.hold(uow, lot_id))


@router.post("/lots/{lot_id}/release-hold", response_model=LotDetail, tags=["lots"])
def release_hold(lot_id: int, body: LotEvent, db: DbDep, principal: LotDecide) -> LotDetail:
    return _event(db, principal, body.reason, lot_id, lambda uow: lots.release_hold(uow, lot_id))


@router.post("/lots/{lot_id}/expire", response_model=LotDetail, tags=["lots"])
def expire_lot(lot_id: int, body: LotEvent, db: DbDep, principal: StockMove) -> LotDetail:
    """Mark a lot past its expiry date expired."""
    return _event(db, principal, body.reason, lot_id, lambda uow: lots.expire(uow, lot_id))


@router.get("/containers/{code}", response_model=ContainerPublic, tags=["lots"])
def get_container(code: str, db: DbDep, _: MaterialView) -> ContainerPublic:
    """A container by its code, as a scanner reads it."""
    with db.sessions() as session:
        return lots.container_public(lots.container_by_code(session, code))


def _label_response(data: bytes, fmt: wms_labels.Format, name: str) -> Response:
    if fmt == "pdf":
        return Response(data, media_type="application/pdf",
                        headers={"content-disposition": f'inline; filename="{name}.pdf"'})  # fmt: skip
    return Response(data, media_type="text/plain; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}.zpl"'})  # fmt: skip


@router.get("/containers/{code}/label.{fmt}", tags=["lots"], response_class=Response)
def container_label(code: str, fmt: wms_labels.Format, db: DbDep, principal: LotReceive) -> Response:
    """One container's label, PDF or ZPL; the print is recorded in the audit trail."""
    with uow_for(db, principal) as uow:
        container = lots.container_by_code(uow.session, code)
        data = wms_labels.print_labels(uow, [container], fmt)
        uow.commit()
        return _label_response(data, fmt, container.code)


@router.get("/receipts/{receipt_id}/labels.{fmt}", tags=["receipts"], response_class=Response)
def receipt_labels(receipt_id: int, fmt: wms_labels.Format, db: DbDep, principal: LotReceive) -> Response:
    """The labels of every container of a receipt, PDF or ZPL; the print is recorded."""
    with uow_for(db, principal) as uow:
        receipt = receipts.get_receipt(uow.session, receipt_id)
        containers = list(receipt.lot.containers)
        if not containers:
            raise Conflict(N_("No container has been scanned"))
        data = wms_labels.print_labels(uow, containers, fmt, receipt)
        uow.commit()
        return _label_response(data, fmt, receipt.number)
