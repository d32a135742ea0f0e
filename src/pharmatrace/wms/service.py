"""Material master services. Writes go through the unit of work; materials are voided, never deleted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms.models import Material
from pharmatrace.wms.schemas import MaterialCreate, MaterialPublic


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
    material.voided_at = clock.now()
    uow.session.flush()
    return material


def list_materials(
    session: Session, *, text: str = "", kind: str = "", include_void: bool = False
) -> list[Material]:
    query = select(Material).order_by(Material.code)
    if text:
        query = query.where(
            Material.code.like(f"%{text.strip().upper()}%") | Material.name.like(f"%{text.strip()}%")
        )
    if kind:
        query = query.where(Material.kind == kind)
    if not include_void:
        query = query.where(Material.voided_at.is_(None))
    return list(session.scalars(query))


def material_public(material: Material) -> MaterialPublic:
    return MaterialPublic.model_validate(material, from_attributes=True)
