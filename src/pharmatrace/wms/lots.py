"""Lots and their status events (TJ-6.3.1, TJ-6.4.1).

A lot's status is never edited. It changes by one event, each a service function here with the permission
its route checks, a reason in the audit trail, and for QA's decisions an electronic signature:

=============== ================================= ============================ =========================
event           from                              to                           who
=============== ================================= ============================ =========================
start_testing   quarantine 待验                    under_test 检验中             QC (``lims.sample.manage``)
release         under_test                        released 已放行               QA, signed ``lot.release``
                                                  (on a signed conforming CoA, lims.certificates)
reject          quarantine, under_test, on_hold   rejected 不放行               QA, signed ``lot.reject``
hold            quarantine, under_test, released  on_hold 暂停使用              QA
release_hold    on_hold                           the status it was held from  QA
expire          any but rejected and expired      expired 已过期                warehouse, after expiry
=============== ================================= ============================ =========================

The model refuses any other assignment of ``status`` (``Lot._only_through_events``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms.models import Container, Lot, Material, Receipt
from pharmatrace.wms.schemas import ContainerPublic, LotDetail, LotPublic


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months; the 31st of a shorter month becomes its last day."""
    import calendar

    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def today() -> date:
    """Today in Beijing time: expiry and retest dates are calendar days of the plant."""
    return clock.to_beijing(clock.now()).date()


def get_lot(session: Session, lot_id: int) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(N_("No lot with ID {id}"), id=lot_id)
    return lot


def _locked_lot(uow: UnitOfWork, lot_id: int) -> Lot:
    """The lot, its row locked until commit (PostgreSQL) so two decisions at once are serialised."""
    uow.session.execute(select(Lot.id).where(Lot.id == lot_id).with_for_update())
    lot = get_lot(uow.session, lot_id)
    if lot.voided_at is not None:
        raise Conflict(N_("The lot {lot} is void"), lot=lot.lot_number)
    return lot


def _receipt_completed(session: Session, lot: Lot) -> None:
    receipt = session.scalar(select(Receipt).where(Receipt.lot_id == lot.id))
    if receipt is not None and receipt.status != "completed":
        raise Conflict(N_("The receipt {number} of this lot is not complete yet"), number=receipt.number)


def start_testing(uow: UnitOfWork, lot_id: int) -> Lot:
    """QC takes the samples: quarantine → under test."""
    lot = _locked_lot(uow, lot_id)
    _receipt_completed(uow.session, lot)
    lot.apply("start_testing")
    uow.session.flush()
    return lot


def _signed(
    uow: UnitOfWork, principal: Principal, lot_id: int, event: str, action: str, password: str,
    login: str | None,
) -> Lot:  # fmt: skip
    from pharmatrace.wms.signing import check_signer, require_permission, sign

    require_permission(principal, action)
    lot = _locked_lot(uow, lot_id)
    if event == "release":
        _receipt_completed(uow.session, lot)
        if lot.expiry_date is not None and lot.expiry_date <= today():
            raise Conflict(N_("The lot expired on {date}; it cannot be released"), date=lot.expiry_date)
        from pharmatrace.lims.certificates import require_release_certificate

        require_release_certificate(uow.session, lot)  # TJ-5.2.1.4: released on a signed conforming CoA
    lot.apply(event)  # refuses a decision the status does not allow, before any password is checked
    check_signer(uow, principal, action, password, login)
    uow.session.flush()
    sign(uow, principal, "lot", lot.id, action, password, login)
    if event == "reject":
        from pharmatrace.origin.service import lot_rejected

        lot_rejected(uow, lot)  # a herb lot's base hears of it (TJ-5.2.1.5)
    return lot


def release(
    uow: UnitOfWork, principal: Principal, lot_id: int, password: str, login: str | None = None
) -> Lot:
    """QA release (已放行), signed ``lot.release``."""
    return _signed(uow, principal, lot_id, "release", "lot.release", password, login)


def reject(
    uow: UnitOfWork, principal: Principal, lot_id: int, password: str, login: str | None = None
) -> Lot:
    """QA rejection (不放行), signed ``lot.reject``."""
    return _signed(uow, principal, lot_id, "reject", "lot.reject", password, login)


def hold(uow: UnitOfWork, lot_id: int) -> Lot:
    lot = _locked_lot(uow, lot_id)
    lot.apply("hold")
    uow.session.flush()
    return lot


def release_hold(uow: UnitOfWork, lot_id: int) -> Lot:
    lot = _locked_lot(uow, lot_id)
    lot.apply("release_hold")
    uow.session.flush()
    return lot


def expire(uow: UnitOfWork, lot_id: int) -> Lot:
    """Mark a lot expired; refused before its expiry date has come (Beijing time)."""
    lot = _locked_lot(uow, lot_id)
    if lot.expiry_date is None or lot.expiry_date > today():
        raise Conflict(N_("The lot {lot} has not expired"), lot=lot.lot_number)
    lot.apply("expire")
    uow.session.flush()
    return lot


# --- reading --------------------------------------------------------------------------------------


def list_lots(
    session: Session, *, material_code: str = "", status: str = "", text: str = "", limit: int = 500
) -> list[Lot]:
    query = select(Lot).join(Lot.material).order_by(Lot.id.desc()).limit(limit)
    if material_code:
        query = query.where(Material.code == material_code.strip().upper())
    if status:
        query = query.where(Lot.status == status)
    if text:
        found = find_by_scan(session, text)
        if found is not None:
            return [found] if (not status or found.status == status) else []
        like = f"%{text.strip()}%"
        query = query.where(
            or_(Lot.lot_number.like(like.upper()), Lot.supplier_lot.like(like), Material.name.like(like))
        )
    return list(session.scalars(query).unique())


def find_by_scan(session: Session, scan: str) -> Lot | None:
    """The lot a scanned code belongs to: a container code, a lot number, or a GS1 element string
    (our own label's (91) container code, or a supplier label's (10) batch and its serial)."""
    from pharmatrace.codes import gs1

    text = scan.strip()
    if not text:
        return None
    upper = text.upper()
    container = session.scalar(select(Container).where(Container.code == upper))
    if container is not None:
        return container.lot
    lot = session.scalar(select(Lot).where(Lot.lot_number == upper))
    if lot is not None:
        return lot
    try:
        elements = gs1.parse(text)
    except gs1.InvalidElementString:
        elements = None
    if elements is not None:
        internal = elements.get("91")
        if internal:
            return find_by_scan(session, internal)
        key = elements.human_readable()
        container = session.scalar(select(Container).where(Container.supplier_scan == key).limit(1))
        if container is not None:
            return container.lot
        if elements.batch:
            return session.scalar(
                select(Lot).where(Lot.supplier_lot == elements.batch).order_by(Lot.id.desc()).limit(1)
            )
    container = session.scalar(select(Container).where(Container.supplier_scan == text).limit(1))
    return container.lot if container is not None else None


def container_by_code(session: Session, code: str) -> Container:
    container = session.scalar(select(Container).where(Container.code == code.strip().upper()))
    if container is None:
        raise NotFound(N_("No container with code “{code}”"), code=code)
    return container


def container_public(container: Container) -> ContainerPublic:
    return ContainerPublic(
        id=container.id, code=container.code, lot_number=container.lot.lot_number, number=container.number,
        quantity=container.quantity, unit=container.unit, supplier_scan=container.supplier_scan,
        damaged=container.damaged, created_at=container.created_at, created_by=container.created_by,
    )  # fmt: skip


def lot_public(lot: Lot) -> LotPublic:
    return LotPublic(**_lot_values(lot))


def lot_detail(lot: Lot) -> LotDetail:
    return LotDetail(**_lot_values(lot), container_list=[container_public(c) for c in lot.containers])


def _lot_values(lot: Lot) -> dict[str, object]:
    return {
        "id": lot.id, "lot_number": lot.lot_number, "material_code": lot.material.code,
        "material_name": lot.material.name, "supplier_code": lot.supplier.code,
        "supplier_name": lot.supplier.name, "supplier_lot": lot.supplier_lot,
        "manufacture_date": lot.manufacture_date, "expiry_date": lot.expiry_date,
        "retest_date": lot.retest_date, "quantity": lot.quantity, "unit": lot.unit, "status": lot.status,
        "held_from": lot.held_from, "containers": len(lot.containers), "created_at": lot.created_at,
        "created_by": lot.created_by, "voided_at": lot.voided_at,
    }  # fmt: skip
