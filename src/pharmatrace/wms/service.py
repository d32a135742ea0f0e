"""Material master services. Writes go through the unit of work; materials are voided, never deleted."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, PharmaTraceError
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms.models import Material, Supplier, SupplierApproval
from pharmatrace.wms.schemas import (
    ApprovalDecision,
    ApprovalPublic,
    MaterialCreate,
    MaterialPublic,
    SupplierCreate,
    SupplierPublic,
)


def create_material(uow: UnitOfWork, data: MaterialCreate) -> Material:
    if uow.session.scalar(select(Material.id).where(Material.code == data.code)) is not None:
        raise Conflict(N_("The material code “{code}” is already taken"), code=data.code)
    material = Material(**data.model_dump(), created_at=clock.now(), created_by=uow.actor.login)
    uow.session.add(material)
    uow.session.flush()
    return material


def void_material(uow: UnitOfWork, material_id: int) -> Material:
    material = uow.session.get(Material, material_id)
    if material is None:
        raise NotFound(N_("No material with ID {id}"), id=material_id)
    if material.voided_at is not None:
        raise Conflict(N_("The material is already void"))
    uow.void(material)
    return material


def list_materials(
    session: Session, *, text: str = "", kind: str = "", include_void: bool = False
) -> list[Material]:
    return _search(session, Material, text=text, kind=kind, include_void=include_void)


Coded = TypeVar("Coded", Material, Supplier)


def _search(session: Session, model: type[Coded], *, text: str, kind: str, include_void: bool) -> list[Coded]:
    """Master data by code or name (a scanned code is upper-cased), kind, and whether void rows show."""
    query = select(model).order_by(model.code)
    if text:
        query = query.where(
            model.code.like(f"%{text.strip().upper()}%") | model.name.like(f"%{text.strip()}%")
        )
    if kind:
        query = query.where(model.kind == kind)
    if not include_void:
        query = query.where(model.voided_at.is_(None))
    return list(session.scalars(query))


def material_public(material: Material) -> MaterialPublic:
    return MaterialPublic.model_validate(material, from_attributes=True)


# --- suppliers and the approved-supplier list (TJ-5.2.1, SH-6.2.4 供应商管理) ------------------------


class SupplierNotApproved(PharmaTraceError):
    """A lot from a supplier without a valid approval for that material is refused at receipt."""

    code = "supplier_not_approved"
    http_status = 409


def create_supplier(uow: UnitOfWork, data: SupplierCreate) -> Supplier:
    if uow.session.scalar(select(Supplier.id).where(Supplier.code == data.code)) is not None:
        raise Conflict(N_("The supplier code “{code}” is already taken"), code=data.code)
    supplier = Supplier(**data.model_dump(), created_at=clock.now(), created_by=uow.actor.login)
    uow.session.add(supplier)
    uow.session.flush()
    return supplier


def void_supplier(uow: UnitOfWork, supplier_id: int) -> Supplier:
    supplier = get_supplier(uow.session, supplier_id)
    if supplier.voided_at is not None:
        raise Conflict(N_("The supplier is already void"))
    uow.void(supplier)
    return supplier


def get_supplier(session: Session, supplier_id: int) -> Supplier:
    supplier = session.get(Supplier, supplier_id)
    if supplier is None:
        raise NotFound(N_("No supplier with ID {id}"), id=supplier_id)
    return supplier


def list_suppliers(
    session: Session, *, text: str = "", kind: str = "", include_void: bool = False
) -> list[Supplier]:
    return _search(session, Supplier, text=text, kind=kind, include_void=include_void)


def _active_supplier(session: Session, code: str) -> Supplier:
    supplier = session.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        raise NotFound(N_("No supplier with code “{code}”"), code=code)
    if supplier.voided_at is not None:
        raise Conflict(N_("The supplier “{code}” is void"), code=code)
    return supplier


def _active_material(session: Session, code: str) -> Material:
    material = session.scalar(select(Material).where(Material.code == code))
    if material is None:
        raise NotFound(N_("No material with code “{code}”"), code=code)
    if material.voided_at is not None:
        raise Conflict(N_("The material “{code}” is void"), code=code)
    return material


def end_of_day(day: date) -> datetime:
    """The last instant of ``day`` in Beijing time, in UTC: "valid until 2027-06-30" holds all that day."""
    return datetime.combine(day, time.max, tzinfo=clock.BEIJING).astimezone(UTC)


def decide_approval(uow: UnitOfWork, decision: ApprovalDecision) -> SupplierApproval:
    """Put a supplier on the list for a material, or change its status (QA). Audited with the reason."""
    supplier = _active_supplier(uow.session, decision.supplier_code)
    material = _active_material(uow.session, decision.material_code)
    approval = uow.session.scalar(
        select(SupplierApproval).where(
            SupplierApproval.supplier_id == supplier.id, SupplierApproval.material_id == material.id
        )
    )
    now = clock.now()
    valid_until = end_of_day(decision.valid_until) if decision.valid_until else None
    if approval is None:
        approval = SupplierApproval(
            supplier_id=supplier.id, material_id=material.id, created_at=now, created_by=uow.actor.login
        )
        uow.session.add(approval)
    elif (approval.status, approval.valid_until) == (decision.status, valid_until):
        raise Conflict(N_("The approved-supplier list already says this"))
    approval.status = decision.status
    approval.valid_until = valid_until
    approval.decided_at = now
    approval.decided_by = uow.actor.login
    uow.session.flush()
    return approval


def list_approvals(
    session: Session, *, supplier_id: int | None = None, material_id: int | None = None
) -> list[SupplierApproval]:
    query = select(SupplierApproval).join(SupplierApproval.supplier).join(SupplierApproval.material)
    if supplier_id is not None:
        query = query.where(SupplierApproval.supplier_id == supplier_id)
    if material_id is not None:
        query = query.where(SupplierApproval.material_id == material_id)
    return list(session.scalars(query.order_by(Supplier.code, Material.code)))


def supplier_problem(
    session: Session, supplier_code: str, material_code: str, at: datetime | None = None
) -> SupplierNotApproved | None:
    """Why a lot of ``material_code`` from ``supplier_code`` may not be received now; ``None`` if it may."""
    at = at or clock.now()
    supplier = session.scalar(select(Supplier).where(Supplier.code == supplier_code))
    material = session.scalar(select(Material).where(Material.code == material_code))
    if supplier is None or supplier.voided_at is not None:
        return SupplierNotApproved(N_("“{supplier}” is not a supplier of this plant"), supplier=supplier_code)
    if material is None or material.voided_at is not None:
        return SupplierNotApproved(N_("“{material}” is not a material of this plant"), material=material_code)
    approval = session.scalar(
        select(SupplierApproval).where(
            SupplierApproval.supplier_id == supplier.id, SupplierApproval.material_id == material.id
        )
    )
    names = {"supplier": supplier.name, "material": material.name}
    if approval is None:
        return SupplierNotApproved(
            N_("{supplier} is not on the approved-supplier list for {material}"), **names
        )
    if approval.status == "suspended":
        return SupplierNotApproved(N_("{supplier} is suspended for {material}"), **names)
    if approval.status == "disqualified":
        return SupplierNotApproved(N_("{supplier} is disqualified for {material}"), **names)
    if approval.valid_until is not None and approval.valid_until < at:
        return SupplierNotApproved(
            N_("The approval of {supplier} for {material} expired on {date}"),
            date=clock.to_beijing(approval.valid_until).date().isoformat(),
            **names,
        )
    return None


def require_approved_supplier(
    session: Session, supplier_code: str, material_code: str, at: datetime | None = None
) -> None:
    """Refuse a receipt from a supplier without a valid approval for the material (issue 5, TJ-5.2.1.1)."""
    problem = supplier_problem(session, supplier_code, material_code, at)
    if problem is not None:
        raise problem


def supplier_public(supplier: Supplier) -> SupplierPublic:
    return SupplierPublic.model_validate(supplier, from_attributes=True)


def approval_public(approval: SupplierApproval) -> ApprovalPublic:
    return ApprovalPublic(
        id=approval.id,
        supplier_code=approval.supplier.code,
        supplier_name=approval.supplier.name,
        material_code=approval.material.code,
        material_name=approval.material.name,
        status=approval.status,
        valid_until=approval.valid_until,
        decided_at=approval.decided_at,
        decided_by=approval.decided_by,
    )
