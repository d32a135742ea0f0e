"""Product identifiers, code pools, allocation and the manual lifecycle operations over the REST API (NMPAB/T 1002,
SH-6.2.5.1, TJ-6.3.4). Reading needs ``trace.view``; writing ``trace.codes.manage``. A pool is imported as the
issuer's file (multipart upload, kept by its SM3) or as a JSON list of codes; either way all codes or none."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile

from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.trace import codes as service
from pharmatrace.trace.code_schemas import (
    AllocationCreate,
    BatchCodesPublic,
    CodePublic,
    CodesCommission,
    CodesDecommission,
    CodesReactivate,
    Deallocation,
    EventPublic,
    IdentifierCreate,
    IdentifierPublic,
    IdentifierVoid,
    PoolGenerate,
    PoolImport,
    PoolPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/trace", tags=["trace"])

View = Annotated[Principal, Depends(Requires(service.VIEW_PERMISSION))]
Manage = Annotated[Principal, Depends(Requires(service.MANAGE_PERMISSION))]


def _identifier(db: DbDep, code: str) -> IdentifierPublic:
    with db.sessions() as session:
        return next(i for i in service.list_identifiers(session) if i.code == code)


@router.get("/identifiers", response_model=list[IdentifierPublic])
def list_identifiers(db: DbDep, _: View) -> list[IdentifierPublic]:
    """Product identifiers per packaging level, with how many of their codes are available."""
    with db.sessions() as session:
        return service.list_identifiers(session)


@router.post("/identifiers", response_model=IdentifierPublic, status_code=201)
def register_identifier(body: IdentifierCreate, db: DbDep, principal: Manage) -> IdentifierPublic:
    """Register a 7-digit 药品标识码 (``nmpa``) or a GTIN-14 (``gs1``) for one packaging level of a finished good."""
    with uow_for(db, principal) as uow:
        identifier = service.register_identifier(uow, principal, body)
        uow.commit()
        code = identifier.code
    return _identifier(db, code)


@router.post("/identifiers/{code}/void", response_model=IdentifierPublic)
def void_identifier(code: str, body: IdentifierVoid, db: DbDep, principal: Manage) -> IdentifierPublic:
    """Void an identifier with a reason: no new pools or allocations; its codes stay."""
    with uow_for(db, principal, body.reason) as uow:
        identifier = service.void_identifier(uow, principal, code)
        uow.commit()
        found = identifier.code
    return _identifier(db, found)


@router.get("/pools", response_model=list[PoolPublic])
def list_pools(db: DbDep, _: View, identifier: str = "") -> list[PoolPublic]:
    """Code pools, newest first, with their codes by state (``identifier``: one identifier's)."""
    with db.sessions() as session:
        return service.list_pools(session, identifier=identifier or None)


@router.get("/pools/{number}", response_model=PoolPublic)
def get_pool(number: str, db: DbDep, _: View) -> PoolPublic:
    with db.sessions() as session:
        return service.pool_public(session, service.get_pool(session, number))


@router.post("/pools/import", response_model=PoolPublic, status_code=201)
def import_codes(body: PoolImport, db: DbDep, principal: Manage) -> PoolPublic:
    """Import an issuer's pool given as a JSON list of 20-digit codes (kept as a text file by its SM3)."""
    with uow_for(db, principal) as uow:
        pool = service.import_codes(uow, principal, body)
        uow.commit()
        return service.pool_public(uow.session, pool)


@router.post("/pools/upload", response_model=PoolPublic, status_code=201)
async def upload_pool(
    db: DbDep, principal: Manage, identifier: Annotated[str, Form(max_length=14)],
    file: Annotated[UploadFile, File()], reference: Annotated[str, Form(max_length=200)] = "",
) -> PoolPublic:  # fmt: skip
    """Import an issuer's file (text or CSV, one code per line, optional header) as multipart upload."""
    data = await file.read(service.POOL_FILES.max_bytes + 1)
    if not file.filename:
        raise ValidationFailed(N_("Choose a file"))
    with uow_for(db, principal) as uow:
        pool = service.import_pool(uow, principal, identifier, data, file.filename, reference=reference)
        uow.commit()
        return service.pool_public(uow.session, pool)


@router.post("/pools/generate", response_model=PoolPublic, status_code=201)
def generate_pool(body: PoolGenerate, db: DbDep, principal: Manage) -> PoolPublic:
    """Generate random, non-sequential GS1 serials for a GTIN identifier."""
    with uow_for(db, principal) as uow:
        pool = service.generate_pool(uow, principal, body)
        uow.commit()
        return service.pool_public(uow.session, pool)


@router.get("/allocations", response_model=list[BatchCodesPublic])
def list_allocations(db: DbDep, _: View, batch: str = "") -> list[BatchCodesPublic]:
    """Per batch and identifier, the codes allocated to it by state (``batch``: one batch's)."""
    with db.sessions() as session:
        return service.batch_codes(session, batch=batch or None)


@router.post("/allocations", response_model=EventPublic, status_code=201)
def allocate(body: AllocationCreate, db: DbDep, principal: Manage) -> EventPublic:
    """Allocate the oldest available codes of an identifier to a batch of its product and a packaging line."""
    with uow_for(db, principal) as uow:
        event = service.allocate(uow, principal, body)
        uow.commit()
        return service.event_public(uow.session, event)


@router.post("/deallocations", response_model=EventPublic, status_code=201)
def deallocate(body: Deallocation, db: DbDep, principal: Manage) -> EventPublic:
    """Give a batch's allocated codes back to the pool, with a reason."""
    with uow_for(db, principal, body.reason) as uow:
        event = service.deallocate(uow, principal, body)
        uow.commit()
        return service.event_public(uow.session, event)


@router.get("/codes/{value}", response_model=CodePublic)
def get_code(value: str, db: DbDep, _: View) -> CodePublic:
    """A code (20 digits, ``01<GTIN>21<serial>`` or a bracketed GS1 element string) with its history and whether
    its row still agrees with its ledger-vouched events."""
    with db.sessions() as session:
        return service.code_public(session, service.find_code(session, value))


@router.post("/codes/commission", response_model=list[EventPublic])
def commission(body: CodesCommission, db: DbDep, principal: Manage) -> list[EventPublic]:
    """Codes allocated to a batch, printed and read good."""
    with uow_for(db, principal) as uow:
        event = service.commission(uow, principal, body)
        uow.commit()
        return [service.event_public(uow.session, event)]


@router.post("/codes/decommission", response_model=list[EventPublic])
def decommission(body: CodesDecommission, db: DbDep, principal: Manage) -> list[EventPublic]:
    """Codes taken out with a disposition (sample, damaged, destroyed, stolen, rejected) and a reason."""
    with uow_for(db, principal, body.reason) as uow:
        events = service.decommission(uow, principal, body)
        uow.commit()
        return [service.event_public(uow.session, e) for e in events]


@router.post("/codes/reactivate", response_model=list[EventPublic])
def reactivate(body: CodesReactivate, db: DbDep, principal: Manage) -> list[EventPublic]:
    """Stolen codes recovered, back to commissioned, with a reason (other dispositions never come back)."""
    with uow_for(db, principal, body.reason) as uow:
        events = service.reactivate(uow, principal, body)
        uow.commit()
        return [service.event_public(uow.session, e) for e in events]
