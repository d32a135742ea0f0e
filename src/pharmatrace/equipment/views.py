"""Equipment, scales and rooms pages: register with search by scanned code, detail with status panel,
logbook and audit trail, and the forms (SH-6.3.2.1, TJ-6.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.equipment import service, sops
from pharmatrace.equipment.models import (
    CALIBRATION_STATUSES,
    CLEANING_STATUSES,
    EQUIPMENT_CLASSES,
    LIFECYCLE_STATES,
    LOG_KINDS,
    OPERATING_STATUSES,
    QUALIFICATION_STATUSES,
    ROOM_GRADES,
    ROOM_LOG_KINDS,
    ROOM_STATUSES,
    STERILISATION_STATUSES,
    Equipment,
    EquipmentSop,
    Room,
)
from pharmatrace.equipment.schemas import (
    EquipmentCreate,
    EquipmentUpdate,
    LifecycleChange,
    LogEntryCreate,
    OperatingStatusChange,
    RoomCreate,
    RoomStatusChange,
    RoomUpdate,
)
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, NotFound, PharmaTraceError
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/equipment", include_in_schema=False)

EquipmentView = Annotated[Principal, Depends(Requires("equipment.view"))]
EquipmentManage = Annotated[Principal, Depends(Requires("equipment.manage"))]
LogbookRecord = Annotated[Principal, Depends(Requires("equipment.logbook.record"))]

CLASS_LABELS = {
    "freeze_dryer": N_("Freeze dryer"),
    "filling_line": N_("Filling and stoppering machine"),
    "capping_machine": N_("Capping machine"),
    "tunnel_steriliser": N_("Depyrogenation tunnel"),
    "vial_washer": N_("Vial washer"),
    "autoclave": N_("Autoclave"),
    "isolator": N_("Isolator"),
    "tank": N_("Tank"),
    "filter": N_("Sterilising filter"),
    "balance": N_("Balance"),
    "scale": N_("Scale"),
    "instrument": N_("Instrument"),
    "other": N_("Other equipment"),
}
LIFECYCLE_LABELS = service.LIFECYCLE_LABELS  # the error messages name the states too
OPERATING_LABELS = {
    "standby": N_("Standby"),
    "running": N_("Running"),
    "stopped": N_("Stopped"),
    "fault": N_("Fault"),
}
STATUS_LABELS = {
    "clean": N_("Clean"),
    "to_clean": N_("To clean"),
    "sterile": N_("Sterile"),
    "not_sterile": N_("Not sterile"),
    "calibrated": N_("Calibrated"),
    "not_calibrated": N_("Not calibrated"),
    "out_of_tolerance": N_("Out of tolerance"),
    "qualified": N_("Qualified"),
    "not_qualified": N_("Not qualified"),
    "failed": N_("Failed"),
    "expired": N_("Expired"),
    "not_required": N_("Not required"),
    "in_use": N_("In use"),
    "maintenance": N_("Under maintenance"),
}
LOG_KIND_LABELS = {
    "use": N_("Use"),
    "cleaning": N_("Cleaning"),
    "sterilisation": N_("Sterilisation"),
    "maintenance": N_("Maintenance"),
    "calibration": N_("Calibration"),
    "repair": N_("Repair"),
    "qualification": N_("Qualification"),
}
RESULT_LABELS = {"pass": N_("Pass"), "fail": N_("Fail")}
assert set(CLASS_LABELS) == set(EQUIPMENT_CLASSES)
assert set(LIFECYCLE_LABELS) == set(LIFECYCLE_STATES)
assert set(OPERATING_LABELS) == set(OPERATING_STATUSES)
assert set(LOG_KIND_LABELS) == set(LOG_KINDS)
assert {*CLEANING_STATUSES, *STERILISATION_STATUSES, *CALIBRATION_STATUSES, *QUALIFICATION_STATUSES,
        *ROOM_STATUSES} <= set(STATUS_LABELS)  # fmt: skip

LABELS = {
    "classes": CLASS_LABELS,
    "lifecycle": LIFECYCLE_LABELS,
    "operating": OPERATING_LABELS,
    "status": STATUS_LABELS,
    "kinds": LOG_KIND_LABELS,
    "results": RESULT_LABELS,
    "grades": {g: g for g in ROOM_GRADES},
}
GOOD = frozenset({"clean", "sterile", "calibrated", "qualified"})
BAD = frozenset({"expired", "failed", "out_of_tolerance"})
OPTIONAL_NUMBERS = ("cleaning_validity_hours", "sterilisation_validity_hours", "calibration_interval_days",
                    "qualification_interval_days", "capacity", "readability", "min_weight", "weight_unit",
                    "room_code")  # fmt: skip


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    return render(request, template, status_code=status_code, labels=LABELS, good=GOOD, bad=BAD, **values)


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


def _filled(data: dict[str, Any]) -> dict[str, Any]:
    """Form fields left empty are not given (the schema's default applies)."""
    return {key: value for key, value in data.items() if value != ""}


def _scanned(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()).strip().upper()


# --- equipment list ----------------------------------------------------------------------------------


def _list_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    q, equipment_class, lifecycle = (str(values.pop(k, "")) for k in ("q", "equipment_class", "lifecycle"))
    with db.sessions() as session:
        found = service.list_equipment(session, text=q, equipment_class=equipment_class, lifecycle=lifecycle)
        rows = [(service.equipment_public(e), service.may_use(session, e)) for e in found]
        rooms = [(r.code, r.name) for r in service.list_rooms(session)]
    return _render(request, "equipment/list.html", status_code, rows=rows, rooms=rooms, q=q,
                   equipment_class=equipment_class, lifecycle=lifecycle, translate=i18n.translate,
                   **values)  # fmt: skip


@router.get("", response_class=HTMLResponse)
def equipment_page(
    request: Request,
    db: DbDep,
    _: EquipmentView,
    q: str = "",
    equipment_class: str = "",
    lifecycle: str = "",
    done: int = 0,
) -> Response:
    """The register. A search that is exactly one code (as a scanner types it) opens that record."""
    if q.strip():
        with db.sessions() as session:
            code = _scanned(q)
            hit = session.scalar(select(Equipment.id).where(Equipment.code == code))
            if hit is not None:
                return RedirectResponse(f"/equipment/{hit}", status_code=303)
            room = session.scalar(select(Room.id).where(Room.code == code))
            if room is not None:
                return RedirectResponse(f"/equipment/rooms/{room}", status_code=303)
    return _list_page(
        request, db, q=q, equipment_class=equipment_class, lifecycle=lifecycle, flash=_saved(done)
    )


def _create_data(data: dict[str, Any]) -> dict[str, Any]:
    filled = _filled(data)
    filled["gmp_critical"] = "gmp_critical" in data
    return filled


@router.post("", response_class=HTMLResponse)
async def equipment_create(request: Request, db: DbDep, principal: EquipmentManage) -> Response:
    data = await form_data(request)
    create, errors = validate(EquipmentCreate, _create_data(data))
    if create is None:
        return _list_page(request, db, 422, data=data, field_errors=errors, error=errors.get("body"))
    try:
        with UnitOfWork(db, principal.actor) as uow:
            equipment = service.create_equipment(uow, create)
            uow.commit()
            new_id = equipment.id
    except PharmaTraceError as error:
        return _list_page(request, db, error.http_status, data=data, error=i18n.error_message(error))
    return RedirectResponse(f"/equipment/{new_id}?done=1", status_code=303)


@router.get("/scales", response_class=HTMLResponse)
def scales_page(request: Request, db: DbDep, _: EquipmentView, q: str = "") -> Response:
    """Balances and scales: capacity, readability (d), minimum weight, calibration (TJ-B.2.2.2)."""
    with db.sessions() as session:
        scales = [
            service.scale_public(session, e)
            for e in service.list_equipment(session, text=q, weighing_only=True)
        ]
    return _render(request, "equipment/scales.html", scales=scales, q=q)


# --- rooms -------------------------------------------------------------------------------------------


def _rooms_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    q, grade = str(values.pop("q", "")), str(values.pop("grade", ""))
    with db.sessions() as session:
        rooms = [service.room_public(session, r) for r in service.list_rooms(session, text=q, grade=grade)]
    return _render(request, "equipment/rooms.html", status_code, rooms=rooms, q=q, grade=grade, **values)


@router.get("/rooms", response_class=HTMLResponse)
def rooms_page(request: Request, db: DbDep, _: EquipmentView, q: str = "", grade: str = "") -> Response:
    if q.strip():
        with db.sessions() as session:
            hit = session.scalar(select(Room.id).where(Room.code == _scanned(q)))
        if hit is not None:
            return RedirectResponse(f"/equipment/rooms/{hit}", status_code=303)
    return _rooms_page(request, db, q=q, grade=grade)


@router.post("/rooms", response_class=HTMLResponse)
async def room_create(request: Request, db: DbDep, principal: EquipmentManage) -> Response:
    data = await form_data(request)
    create, errors = validate(RoomCreate, _filled(data))
    if create is None:
        return _rooms_page(request, db, 422, data=data, field_errors=errors)
    try:
        with UnitOfWork(db, principal.actor) as uow:
            room = service.create_room(uow, create)
            uow.commit()
            new_id = room.id
    except PharmaTraceError as error:
        return _rooms_page(request, db, error.http_status, data=data, error=i18n.error_message(error))
    return RedirectResponse(f"/equipment/rooms/{new_id}?done=1", status_code=303)


def _trail(session: Session, object_type: str, object_id: int, entry_ids: list[int]) -> list[AuditEntry]:
    """The record's own trail and that of its logbook entries and SOP links, newest first."""
    target = EquipmentSop.equipment_id if object_type == "equipment" else EquipmentSop.room_id
    sop_ids = [str(i) for i in session.scalars(select(EquipmentSop.id).where(target == object_id))]
    return list(session.scalars(
        select(AuditEntry)
        .where(or_(
            (AuditEntry.object_type == object_type) & (AuditEntry.object_id == str(object_id)),
            (AuditEntry.object_type == "equipment_log_entry") & AuditEntry.object_id.in_([str(i) for i in entry_ids]),
            (AuditEntry.object_type == "equipment_sop") & AuditEntry.object_id.in_(sop_ids),
        ))
        .order_by(AuditEntry.leaf_index.desc())
    ))  # fmt: skip


def _room_detail(
    request: Request, db: DbDep, principal: Principal, room_id: int, status_code: int = 200, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        room = service.get_room(session, room_id)
        entries = service.logbook(session, room_id=room_id)
        usability = service.may_use(session, room)
        equipment = [service.equipment_public(e) for e in service.list_equipment(session, room_id=room_id)]
        trail = _trail(session, "room", room_id, [e.id for e in entries])
        esign = panel(session, principal, "room", str(room_id))
        public = service.room_public(session, room)
        logbook = [service.log_entry_public(e) for e in entries]
        room_sops = sops.sops_public(session, room_id=room_id)
    reasons = [i18n.translate(r.message, **r.params) for r in usability.reasons]
    return _render(request, "equipment/room_detail.html", status_code, room=public, logbook=logbook,
                   reasons=reasons, equipment=equipment, trail=trail, esign=esign,
                   room_kinds=ROOM_LOG_KINDS, sops=room_sops, sop_base=f"/equipment/rooms/{room_id}",
                   sop_purposes=sops.PURPOSE_LABELS, **values)  # fmt: skip


@router.get("/rooms/{room_id}", response_class=HTMLResponse)
def room_page(request: Request, db: DbDep, principal: EquipmentView, room_id: int, done: int = 0) -> Response:
    return _room_detail(request, db, principal, room_id, flash=_saved(done))


async def _room_write(
    request: Request,
    db: DbDep,
    principal: Principal,
    room_id: int,
    schema: type[BaseModel],
    data: dict[str, Any],
    write: Callable[[UnitOfWork, Any], object],
    reason: Callable[[Any], str | None],
    permission: Callable[[Any], str | None] = lambda _: None,
) -> Response:
    return submit(db, principal, schema, data, write=write, reason=reason, permission=permission,
                  rerender=lambda status, **values: _room_detail(request, db, principal, room_id, status, **values),
                  done=f"/equipment/rooms/{room_id}?done=1")  # fmt: skip


@router.post("/rooms/{room_id}/logbook", response_class=HTMLResponse)
async def room_entry(request: Request, db: DbDep, principal: LogbookRecord, room_id: int) -> Response:
    return await _room_write(request, db, principal, room_id, LogEntryCreate, _filled(await form_data(request)),
                             lambda uow, body: service.record_room_entry(uow, room_id, body),
                             lambda body: body.audit_reason(), lambda body: service.permission_for(body.kind))  # fmt: skip


@router.post("/rooms/{room_id}/status", response_class=HTMLResponse)
async def room_status(request: Request, db: DbDep, principal: LogbookRecord, room_id: int) -> Response:
    return await _room_write(request, db, principal, room_id, RoomStatusChange, _filled(await form_data(request)),
                             lambda uow, body: service.set_room_status(uow, room_id, body.status),
                             lambda body: body.reason,
                             lambda body: "equipment.manage" if body.status == "maintenance" else None)  # fmt: skip


@router.post("/rooms/{room_id}/edit", response_class=HTMLResponse)
async def room_edit(request: Request, db: DbDep, principal: EquipmentManage, room_id: int) -> Response:
    return await _room_write(request, db, principal, room_id, RoomUpdate, _filled(await form_data(request)),
                             lambda uow, body: service.update_room(uow, room_id, body),
                             lambda body: body.reason)  # fmt: skip


@router.post("/rooms/{room_id}/void", response_class=HTMLResponse)
async def room_void(request: Request, db: DbDep, principal: EquipmentManage, room_id: int) -> Response:
    return await _room_write(request, db, principal, room_id, ReasonOnly, await form_data(request),
                             lambda uow, _: service.void_room(uow, room_id), lambda body: body.reason)  # fmt: skip


# --- equipment detail --------------------------------------------------------------------------------


def _equipment_detail(
    request: Request,
    db: DbDep,
    principal: Principal,
    equipment_id: int,
    status_code: int = 200,
    **values: Any,
) -> Response:
    from pharmatrace.kernel.esign.views import panel
    from pharmatrace.qms import validation as qms_validation
    from pharmatrace.qms.validation_models import OUTCOME_LABELS, STATUS_LABELS

    with db.sessions() as session:
        equipment = service.get_equipment(session, equipment_id)
        status = service.equipment_status_public(session, equipment, i18n.translate)
        entries = service.logbook(session, equipment_id=equipment_id)
        trail = _trail(session, "equipment", equipment_id, [e.id for e in entries])
        esign = panel(session, principal, "equipment", str(equipment_id))
        public = service.equipment_public(equipment)
        logbook = [service.log_entry_public(e) for e in entries]
        rooms = [(r.code, r.name) for r in service.list_rooms(session)]
        next_states = service.TRANSITIONS.get(equipment.lifecycle, ())
        equipment_sops = sops.sops_public(session, equipment_id=equipment_id)
        validations = qms_validation.equipment_validations(session, equipment_id)
    return _render(request, "equipment/detail.html", status_code, equipment=public, status=status,
                   logbook=logbook, trail=trail, esign=esign, rooms=rooms, next_states=next_states,
                   sops=equipment_sops, sop_base=f"/equipment/{equipment_id}", sop_purposes=sops.PURPOSE_LABELS,
                   validations=validations, validation_status=STATUS_LABELS, validation_outcomes=OUTCOME_LABELS,
                   **values)  # fmt: skip


@router.get("/{equipment_id}", response_class=HTMLResponse)
def equipment_detail(
    request: Request, db: DbDep, principal: EquipmentView, equipment_id: int, done: int = 0
) -> Response:
    """One piece of equipment: its file, the status panel with validity and usability, its logbook, its
    signatures and its own audit trail (SH-6.3.2.1.a, TJ-B.2.1, SH-7.1.3)."""
    return _equipment_detail(request, db, principal, equipment_id, flash=_saved(done))


async def _equipment_write(
    request: Request,
    db: DbDep,
    principal: Principal,
    equipment_id: int,
    schema: type[BaseModel],
    data: dict[str, Any],
    write: Callable[[UnitOfWork, Any], object],
    reason: Callable[[Any], str | None],
    permission: Callable[[Any], str | None] = lambda _: None,
) -> Response:
    return submit(db, principal, schema, data, write=write, reason=reason, permission=permission,
                  rerender=lambda status, **values: _equipment_detail(request, db, principal, equipment_id, status,
                                                                      **values),
                  done=f"/equipment/{equipment_id}?done=1")  # fmt: skip


@router.post("/{equipment_id}/logbook", response_class=HTMLResponse)
async def equipment_entry(
    request: Request, db: DbDep, principal: LogbookRecord, equipment_id: int
) -> Response:
    return await _equipment_write(request, db, principal, equipment_id, LogEntryCreate,
                                  _filled(await form_data(request)),
                                  lambda uow, body: service.record_equipment_entry(uow, equipment_id, body),
                                  lambda body: body.audit_reason(),
                                  lambda body: service.permission_for(body.kind))  # fmt: skip


@router.post("/{equipment_id}/lifecycle", response_class=HTMLResponse)
async def equipment_lifecycle(
    request: Request, db: DbDep, principal: EquipmentManage, equipment_id: int
) -> Response:
    return await _equipment_write(request, db, principal, equipment_id, LifecycleChange,
                                  _filled(await form_data(request)),
                                  lambda uow, body: service.change_lifecycle(uow, equipment_id, body.state),
                                  lambda body: body.reason)  # fmt: skip


@router.post("/{equipment_id}/operating-status", response_class=HTMLResponse)
async def equipment_operating_status(
    request: Request, db: DbDep, principal: LogbookRecord, equipment_id: int
) -> Response:
    return await _equipment_write(request, db, principal, equipment_id, OperatingStatusChange,
                                  _filled(await form_data(request)),
                                  lambda uow, body: service.set_operating_status(uow, equipment_id, body.status),
                                  lambda body: body.reason)  # fmt: skip


def _edit_data(data: dict[str, Any]) -> dict[str, Any]:
    """The edit form sends every field: an empty optional setting clears it, an empty text stays empty."""
    edited: dict[str, Any] = {k: v for k, v in data.items() if k != "gmp_critical"}
    for key in OPTIONAL_NUMBERS:
        if edited.get(key) == "":
            edited[key] = None
    if edited.get("name") == "":
        del edited["name"]
    edited["gmp_critical"] = "gmp_critical" in data
    return edited


@router.post("/{equipment_id}/edit", response_class=HTMLResponse)
async def equipment_edit(
    request: Request, db: DbDep, principal: EquipmentManage, equipment_id: int
) -> Response:
    return await _equipment_write(request, db, principal, equipment_id, EquipmentUpdate,
                                  _edit_data(await form_data(request)),
                                  lambda uow, body: service.update_equipment(uow, equipment_id, body),
                                  lambda body: body.reason)  # fmt: skip


@router.post("/{equipment_id}/void", response_class=HTMLResponse)
async def equipment_void(
    request: Request, db: DbDep, principal: EquipmentManage, equipment_id: int
) -> Response:
    return await _equipment_write(request, db, principal, equipment_id, ReasonOnly, await form_data(request),
                                  lambda uow, _: service.void_equipment(uow, equipment_id),
                                  lambda body: body.reason)  # fmt: skip


# --- SOPs in place (TJ-6.1) ---------------------------------------------------------------------------


@router.post("/rooms/{room_id}/sops", response_class=HTMLResponse)
async def room_sop_link(request: Request, db: DbDep, principal: EquipmentManage, room_id: int) -> Response:
    """Name a room's SOP (cleaning, operation, ...): an existing, not withdrawn document (TJ-6.1)."""
    return await _room_write(request, db, principal, room_id, sops.SopLinkCreate, _filled(await form_data(request)),
                             lambda uow, body: sops.link_sop(uow, body, room_id=room_id),
                             lambda body: None)  # fmt: skip


@router.post("/rooms/{room_id}/sops/{link_id}/void", response_class=HTMLResponse)
async def room_sop_void(
    request: Request, db: DbDep, principal: EquipmentManage, room_id: int, link_id: int
) -> Response:
    return await _room_write(request, db, principal, room_id, ReasonOnly, await form_data(request),
                             lambda uow, _: sops.void_link(uow, _own_link(uow, link_id, room_id=room_id)),
                             lambda body: body.reason)  # fmt: skip


@router.post("/{equipment_id}/sops", response_class=HTMLResponse)
async def equipment_sop_link(
    request: Request, db: DbDep, principal: EquipmentManage, equipment_id: int
) -> Response:
    """Name an SOP of the equipment (operation, cleaning, maintenance, calibration; TJ-6.1)."""
    return await _equipment_write(request, db, principal, equipment_id, sops.SopLinkCreate,
                                  _filled(await form_data(request)),
                                  lambda uow, body: sops.link_sop(uow, body, equipment_id=equipment_id),
                                  lambda body: None)  # fmt: skip


@router.post("/{equipment_id}/sops/{link_id}/void", response_class=HTMLResponse)
async def equipment_sop_void(
    request: Request, db: DbDep, principal: EquipmentManage, equipment_id: int, link_id: int
) -> Response:
    return await _equipment_write(request, db, principal, equipment_id, ReasonOnly, await form_data(request),
                                  lambda uow, _: sops.void_link(uow, _own_link(uow, link_id,
                                                                               equipment_id=equipment_id)),
                                  lambda body: body.reason)  # fmt: skip


def _own_link(
    uow: UnitOfWork, link_id: int, *, equipment_id: int | None = None, room_id: int | None = None
) -> int:
    """The link must belong to the record of the page it is voided from."""
    link = sops.get_link(uow.session, link_id)
    if link.equipment_id != equipment_id or link.room_id != room_id:
        raise NotFound(N_("No SOP link with id {id}"), id=link_id)
    return link.id
