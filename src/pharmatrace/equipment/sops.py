"""The SOPs of equipment and rooms, in place where the work is done (现场文件; TJ-6.1, SH-6.3.3).

A piece of equipment or a room names the controlled documents it is operated, cleaned, maintained and
calibrated by — by document number, never by version. Its page shows each document's **current effective
version** (:func:`pharmatrace.documents.service.current_effective`) linked to the floor view, so a new
version is what the floor opens from the moment it becomes effective, and warns when a document has no
effective version (none approved yet, or withdrawn). A link names an existing, not withdrawn document
(refused otherwise; the database holds the foreign key too); links are voided with a reason, never deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.documents import service as documents
from pharmatrace.documents.models import Document
from pharmatrace.documents.schemas import DocumentNumber
from pharmatrace.equipment.models import SOP_PURPOSES, Equipment, EquipmentSop, Room
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.identity.schemas import Strict
from pharmatrace.kernel.uow import UnitOfWork

SopPurpose = Literal["operation", "cleaning", "maintenance", "calibration"]
PURPOSE_LABELS = {
    "operation": N_("Operation"),
    "cleaning": N_("Cleaning"),
    "maintenance": N_("Maintenance"),
    "calibration": N_("Calibration"),
}
assert set(PURPOSE_LABELS) == set(SOP_PURPOSES)


class SopLinkCreate(Strict):
    """Name a controlled document a piece of equipment or a room is worked by."""

    purpose: SopPurpose
    document_number: DocumentNumber


class SopPublic(BaseModel):
    """One SOP link with the document's version effective now (``version`` is None when none is)."""

    id: int
    equipment_id: int | None
    room_id: int | None
    purpose: SopPurpose
    document_number: str
    title: str
    version: int | None
    version_id: int | None
    effective_from: datetime | None
    withdrawn: bool
    floor_url: str
    created_at: datetime
    created_by: str


def _live_target(session: Session, equipment_id: int | None, room_id: int | None) -> Equipment | Room:
    if (equipment_id is None) == (room_id is None):
        raise ValidationFailed(N_("Name either a piece of equipment or a room"))
    target: Equipment | Room | None = (
        session.get(Equipment, equipment_id) if equipment_id is not None else session.get(Room, room_id)
    )
    if target is None:
        if equipment_id is not None:
            raise NotFound(N_("No equipment with id {id}"), id=equipment_id)
        raise NotFound(N_("No room with id {id}"), id=room_id)
    if target.voided_at is not None:
        raise Conflict(N_("The record {code} is void"), code=target.code)
    return target


def link_sop(
    uow: UnitOfWork, data: SopLinkCreate, *, equipment_id: int | None = None, room_id: int | None = None
) -> EquipmentSop:
    """Name ``data.document_number`` as the equipment's or room's SOP for ``data.purpose`` (TJ-6.1).

    Refused: an unknown or withdrawn document, a void target, the same document already named for that
    purpose. A document with no effective version yet may be named (a new SOP in review); the page warns.
    """
    session = uow.session
    target = _live_target(session, equipment_id, room_id)
    document = documents.find_document(session, data.document_number)
    if document is None:
        raise NotFound(N_("No document {number}"), number=data.document_number)
    if document.withdrawn_at is not None:
        raise Conflict(N_("Document {number} was withdrawn and may not be used"), number=document.number)
    query = select(EquipmentSop.id).where(
        EquipmentSop.voided_at.is_(None),
        EquipmentSop.purpose == data.purpose,
        EquipmentSop.document_number == document.number,
    )
    query = query.where(
        EquipmentSop.equipment_id == equipment_id
        if equipment_id is not None
        else EquipmentSop.room_id == room_id
    )
    if session.scalar(query.limit(1)) is not None:
        raise Conflict(
            N_("{number} is already named for {code} for this purpose"),
            number=document.number,
            code=target.code,
        )
    link = EquipmentSop(
        equipment_id=equipment_id,
        room_id=room_id,
        purpose=data.purpose,
        document_number=document.number,
        created_at=clock.now(),
        created_by=uow.actor.login,
    )
    session.add(link)
    session.flush()
    return link


def get_link(session: Session, link_id: int) -> EquipmentSop:
    link = session.get(EquipmentSop, link_id)
    if link is None:
        raise NotFound(N_("No SOP link with id {id}"), id=link_id)
    return link


def void_link(uow: UnitOfWork, link_id: int) -> EquipmentSop:
    """Stop naming a document (the unit of work carries the reason; the link stays in the trail)."""
    link = get_link(uow.session, link_id)
    if link.voided_at is not None:
        raise Conflict(N_("The SOP link is void already"))
    uow.void(link)
    return link


def links_of(
    session: Session, *, equipment_id: int | None = None, room_id: int | None = None
) -> list[EquipmentSop]:
    query = select(EquipmentSop).where(EquipmentSop.voided_at.is_(None))
    if equipment_id is not None:
        query = query.where(EquipmentSop.equipment_id == equipment_id)
    if room_id is not None:
        query = query.where(EquipmentSop.room_id == room_id)
    order = {p: n for n, p in enumerate(SOP_PURPOSES)}
    return sorted(session.scalars(query), key=lambda s: (order[s.purpose], s.document_number))


def sop_public(session: Session, link: EquipmentSop, at: datetime | None = None) -> SopPublic:
    """The link with the document's version effective at ``at`` (default now), as the floor opens it."""
    document = documents.get_document(session, link.document_number)
    current = documents.current_effective(session, document.id, at)
    return SopPublic(
        id=link.id,
        equipment_id=link.equipment_id,
        room_id=link.room_id,
        purpose=link.purpose,  # the database CHECK holds it to SOP_PURPOSES
        document_number=document.number,
        title=document.title,
        version=current.version if current is not None else None,
        version_id=current.id if current is not None else None,
        effective_from=current.effective_from if current is not None else None,
        withdrawn=document.withdrawn_at is not None,
        floor_url=f"/documents/floor/{document.number}",
        created_at=link.created_at,
        created_by=link.created_by,
    )


def sops_public(
    session: Session, *, equipment_id: int | None = None, room_id: int | None = None
) -> list[SopPublic]:
    return [sop_public(session, s) for s in links_of(session, equipment_id=equipment_id, room_id=room_id)]


# --- demo ---------------------------------------------------------------------------------------------

# The demo line's SOPs (pharmatrace.equipment.demo, pharmatrace.documents.demo).
DEMO_EQUIPMENT_SOPS: dict[str, tuple[tuple[str, str], ...]] = {
    "FD-01": (("operation", "SOP-PR-007"), ("cleaning", "SOP-EQ-201"), ("maintenance", "SOP-EQ-202")),
    "FL-01": (("operation", "SOP-PR-006"), ("cleaning", "SOP-EQ-211")),
    "CM-01": (("operation", "SOP-PR-008"),),
    "TK-01": (("operation", "SOP-PR-003"), ("cleaning", "SOP-EQ-201"), ("maintenance", "SOP-EQ-202")),
    "SF-01": (("operation", "SOP-PR-005"), ("maintenance", "SOP-EQ-202")),
    "BAL-01": (("operation", "SOP-WH-001"),),
    "BAL-02": (("operation", "SOP-WH-001"),),
    "SC-01": (("operation", "SOP-WH-001"),),
}
DEMO_ROOM_SOPS: dict[str, tuple[tuple[str, str], ...]] = {
    "RM-WEIGH": (("cleaning", "SOP-CL-101"), ("operation", "SOP-WH-001")),
    "RM-PREP": (("cleaning", "SOP-CL-102"), ("operation", "SOP-PR-003")),
    "RM-FILL": (("cleaning", "SOP-CL-103"),),
    "RM-FILL-A": (("cleaning", "SOP-CL-104"), ("operation", "SOP-PR-006")),
    "RM-LYO": (("cleaning", "SOP-CL-105"), ("operation", "SOP-PR-007")),
    "RM-CAP": (("cleaning", "SOP-CL-106"), ("operation", "SOP-PR-008")),
    "RM-PACK": (("cleaning", "SOP-CL-107"), ("operation", "SOP-PR-010")),
}


def seed_sops(uow: UnitOfWork) -> int:
    """Link the demo equipment and rooms to their SOPs (idempotent); returns how many links were made."""
    session = uow.session
    known = set(session.scalars(select(Document.number)))
    made = 0
    targets: list[tuple[Equipment | Room | None, tuple[tuple[str, str], ...]]] = [
        (session.scalar(select(Equipment).where(Equipment.code == code)), pairs)
        for code, pairs in DEMO_EQUIPMENT_SOPS.items()
    ] + [
        (session.scalar(select(Room).where(Room.code == code)), pairs)
        for code, pairs in DEMO_ROOM_SOPS.items()
    ]
    for target, pairs in targets:
        if target is None or target.voided_at is not None:
            continue
        ids = {"equipment_id": target.id} if isinstance(target, Equipment) else {"room_id": target.id}
        have = {(s.purpose, s.document_number) for s in links_of(session, **ids)}
        for purpose, number in pairs:
            if number in known and (purpose, number) not in have:
                body = SopLinkCreate.model_validate({"purpose": purpose, "document_number": number})
                link_sop(uow, body, **ids)
                made += 1
    return made
