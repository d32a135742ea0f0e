"""``/api/v1/equipment``, ``/api/v1/scales``, ``/api/v1/rooms``: the register, status, logbooks, usability."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from pharmatrace.equipment import service
from pharmatrace.equipment.models import Equipment, Room
from pharmatrace.equipment.schemas import (
    EquipmentCreate,
    EquipmentPublic,
    EquipmentStatusPublic,
    EquipmentUpdate,
    LifecycleChange,
    LogEntryCreate,
    LogEntryPublic,
    OperatingStatusChange,
    RoomCreate,
    RoomPublic,
    RoomStatusChange,
    RoomUpdate,
    ScalePublic,
    UsabilityPublic,
)
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(tags=["equipment"])

EquipmentView = Annotated[Principal, Depends(Requires("equipment.view"))]
EquipmentManage = Annotated[Principal, Depends(Requires("equipment.manage"))]
LogbookRecord = Annotated[Principal, Depends(Requires("equipment.logbook.record"))]


def _moment(at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:
        raise ValidationFailed(N_("A time needs its time zone, e.g. 2026-11-20T08:00:00+08:00"))
    return at


# --- equipment ---------------------------------------------------------------------------------------


@router.get("/equipment", response_model=list[EquipmentPublic])
def list_equipment(
    db: DbDep,
    _: EquipmentView,
    q: str = "",
    equipment_class: str = "",
    lifecycle: str = "",
    room: str = "",
    include_void: bool = False,
) -> list[EquipmentPublic]:
    """The equipment register; ``q`` matches a code (as scanned) or a name, ``room`` a room code."""
    with db.sessions() as session:
        room_id = service.room_by_code(session, room.strip().upper()).id if room.strip() else None
        found = service.list_equipment(session, text=q, equipment_class=equipment_class, lifecycle=lifecycle,
                                       room_id=room_id, include_void=include_void)  # fmt: skip
        return [service.equipment_public(e) for e in found]


@router.post("/equipment", response_model=EquipmentPublic, status_code=201)
def create_equipment(body: EquipmentCreate, db: DbDep, principal: EquipmentManage) -> EquipmentPublic:
    with uow_for(db, principal) as uow:
        equipment = service.create_equipment(uow, body)
        uow.commit()
        return service.equipment_public(equipment)


@router.get("/equipment/usability", response_model=UsabilityPublic)
def usability_by_code(db: DbDep, _: EquipmentView, code: str, at: datetime | None = None) -> UsabilityPublic:
    """For the MES: may the equipment or room with this (scanned) code be used now, and if not, why."""
    with db.sessions() as session:
        return service.usability_public(service.may_use(session, code, _moment(at)), i18n.translate)


@router.get("/equipment/{equipment_id}", response_model=EquipmentPublic)
def get_equipment(equipment_id: int, db: DbDep, _: EquipmentView) -> EquipmentPublic:
    with db.sessions() as session:
        return service.equipment_public(service.get_equipment(session, equipment_id))


@router.patch("/equipment/{equipment_id}", response_model=EquipmentPublic)
def update_equipment(
    equipment_id: int, body: EquipmentUpdate, db: DbDep, principal: EquipmentManage
) -> EquipmentPublic:
    with uow_for(db, principal, body.reason) as uow:
        equipment = service.update_equipment(uow, equipment_id, body)
        uow.commit()
        return service.equipment_public(equipment)


@router.post("/equipment/{equipment_id}/void", response_model=EquipmentPublic)
def void_equipment(
    equipment_id: int, body: ReasonOnly, db: DbDep, principal: EquipmentManage
) -> EquipmentPublic:
    with uow_for(db, principal, body.reason) as uow:
        equipment = service.void_equipment(uow, equipment_id)
        uow.commit()
        return service.equipment_public(equipment)


@router.post("/equipment/{equipment_id}/lifecycle", response_model=EquipmentPublic)
def change_lifecycle(
    equipment_id: int, body: LifecycleChange, db: DbDep, principal: EquipmentManage
) -> EquipmentPublic:
    with uow_for(db, principal, body.reason) as uow:
        equipment = service.change_lifecycle(uow, equipment_id, body.state)
        uow.commit()
        return service.equipment_public(equipment)


@router.post("/equipment/{equipment_id}/operating-status", response_model=EquipmentPublic)
def set_operating_status(
    equipment_id: int, body: OperatingStatusChange, db: DbDep, principal: LogbookRecord
) -> EquipmentPublic:
    with uow_for(db, principal, body.reason) as uow:
        equipment = service.set_operating_status(uow, equipment_id, body.status)
        uow.commit()
        return service.equipment_public(equipment)


@router.get("/equipment/{equipment_id}/status", response_model=EquipmentStatusPublic)
def equipment_status(
    equipment_id: int, db: DbDep, _: EquipmentView, at: datetime | None = None
) -> EquipmentStatusPublic:
    """Every status with its validity (TJ-B.2.1) and the usability at ``at`` (default now)."""
    with db.sessions() as session:
        equipment = service.get_equipment(session, equipment_id)
        return service.equipment_status_public(session, equipment, i18n.translate, _moment(at))


@router.get("/equipment/{equipment_id}/usability", response_model=UsabilityPublic)
def equipment_usability(
    equipment_id: int, db: DbDep, _: EquipmentView, at: datetime | None = None
) -> UsabilityPublic:
    with db.sessions() as session:
        equipment: Equipment = service.get_equipment(session, equipment_id)
        return service.usability_public(service.may_use(session, equipment, _moment(at)), i18n.translate)


@router.get("/equipment/{equipment_id}/logbook", response_model=list[LogEntryPublic])
def equipment_logbook(equipment_id: int, db: DbDep, _: EquipmentView, kind: str = "") -> list[LogEntryPublic]:
    with db.sessions() as session:
        service.get_equipment(session, equipment_id)
        entries = service.logbook(session, equipment_id=equipment_id, kind=kind)
        return [service.log_entry_public(e) for e in entries]


@router.post("/equipment/{equipment_id}/logbook", response_model=LogEntryPublic, status_code=201)
def record_equipment_entry(
    equipment_id: int, body: LogEntryCreate, db: DbDep, principal: LogbookRecord
) -> LogEntryPublic:
    """Append a logbook entry; cleaning, sterilisation, calibration and qualification set the status and
    its validity in the same transaction. Use of equipment that may not be used is refused."""
    principal.require(service.permission_for(body.kind))
    with uow_for(db, principal, body.audit_reason()) as uow:
        entry = service.record_equipment_entry(uow, equipment_id, body)
        uow.commit()
        return service.log_entry_public(entry)


@router.get("/scales", response_model=list[ScalePublic])
def list_scales(db: DbDep, _: EquipmentView, q: str = "") -> list[ScalePublic]:
    """Balances and scales with capacity, readability (d) and calibration (TJ-B.2.2.2)."""
    with db.sessions() as session:
        return [
            service.scale_public(session, e)
            for e in service.list_equipment(session, text=q, weighing_only=True)
        ]


# --- rooms -------------------------------------------------------------------------------------------


@router.get("/rooms", response_model=list[RoomPublic])
def list_rooms(db: DbDep, _: EquipmentView, q: str = "", grade: str = "") -> list[RoomPublic]:
    with db.sessions() as session:
        return [service.room_public(session, r) for r in service.list_rooms(session, text=q, grade=grade)]


@router.post("/rooms", response_model=RoomPublic, status_code=201)
def create_room(body: RoomCreate, db: DbDep, principal: EquipmentManage) -> RoomPublic:
    with uow_for(db, principal) as uow:
        room = service.create_room(uow, body)
        uow.commit()
        return service.room_public(uow.session, room)


@router.get("/rooms/{room_id}", response_model=RoomPublic)
def get_room(room_id: int, db: DbDep, _: EquipmentView) -> RoomPublic:
    with db.sessions() as session:
        return service.room_public(session, service.get_room(session, room_id))


@router.patch("/rooms/{room_id}", response_model=RoomPublic)
def update_room(room_id: int, body: RoomUpdate, db: DbDep, principal: EquipmentManage) -> RoomPublic:
    with uow_for(db, principal, body.reason) as uow:
        room = service.update_room(uow, room_id, body)
        uow.commit()
        return service.room_public(uow.session, room)


@router.post("/rooms/{room_id}/void", response_model=RoomPublic)
def void_room(room_id: int, body: ReasonOnly, db: DbDep, principal: EquipmentManage) -> RoomPublic:
    with uow_for(db, principal, body.reason) as uow:
        room = service.void_room(uow, room_id)
        uow.commit()
        return service.room_public(uow.session, room)


@router.post("/rooms/{room_id}/status", response_model=RoomPublic)
def set_room_status(room_id: int, body: RoomStatusChange, db: DbDep, principal: LogbookRecord) -> RoomPublic:
    """In use, to clean (operators) or maintenance (engineers). Clean only through a cleaning entry."""
    if body.status == "maintenance":
        principal.require("equipment.manage")
    with uow_for(db, principal, body.reason) as uow:
        room = service.set_room_status(uow, room_id, body.status)
        uow.commit()
        return service.room_public(uow.session, room)


@router.get("/rooms/{room_id}/usability", response_model=UsabilityPublic)
def room_usability(room_id: int, db: DbDep, _: EquipmentView, at: datetime | None = None) -> UsabilityPublic:
    with db.sessions() as session:
        room: Room = service.get_room(session, room_id)
        return service.usability_public(service.may_use(session, room, _moment(at)), i18n.translate)


@router.get("/rooms/{room_id}/logbook", response_model=list[LogEntryPublic])
def room_logbook(room_id: int, db: DbDep, _: EquipmentView, kind: str = "") -> list[LogEntryPublic]:
    with db.sessions() as session:
        service.get_room(session, room_id)
        return [service.log_entry_public(e) for e in service.logbook(session, room_id=room_id, kind=kind)]


@router.post("/rooms/{room_id}/logbook", response_model=LogEntryPublic, status_code=201)
def record_room_entry(
    room_id: int, body: LogEntryCreate, db: DbDep, principal: LogbookRecord
) -> LogEntryPublic:
    principal.require(service.permission_for(body.kind))
    with uow_for(db, principal, body.audit_reason()) as uow:
        entry = service.record_room_entry(uow, room_id, body)
        uow.commit()
        return service.log_entry_public(entry)
