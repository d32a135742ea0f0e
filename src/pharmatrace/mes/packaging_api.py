"""``/api/v1/mes/batches/{order}/packaging`` — the packaging record of a batch (TJ-6.4.6, TJ-B.2.3.4).

Every write is made on a packaging step in progress (``step`` in the body); refusals of the checks against the
artwork, the printed data and the line check are recorded (``mes.packaging.refused``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.mes import packaging
from pharmatrace.mes.packaging_schemas import (
    BalanceCreate,
    BalancePublic,
    LineCheckCreate,
    LineCheckPublic,
    LineCheckVerify,
    MaterialCheckCreate,
    MaterialCheckPublic,
    PackagingRecordCreate,
    PackagingRecordPublic,
    PrintCheckCreate,
    PrintCheckPublic,
    ReconciliationCreate,
    ReconciliationPublic,
    SpecimenPublic,
    VisualInspectionCreate,
    VisualInspectionPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/mes", tags=["mes"])

BatchView = Annotated[Principal, Depends(Requires("mes.batch.view"))]
BatchExecute = Annotated[Principal, Depends(Requires("mes.batch.execute"))]
PACKAGING = "/batches/{order}/packaging"
MAX_IMAGE = packaging.SPECIMENS.max_bytes


@router.get(PACKAGING, response_model=PackagingRecordPublic)
def get_record(order: str, db: DbDep, _: BatchView) -> PackagingRecordPublic:
    """The packaging record, and what it still lacks before the packaging is complete."""
    with db.sessions() as session:
        return packaging.public_of(session, order)


@router.post(PACKAGING, response_model=PackagingRecordPublic, status_code=201)
def open_record(
    order: str, body: PackagingRecordCreate, db: DbDep, principal: BatchExecute
) -> PackagingRecordPublic:
    with uow_for(db, principal) as uow:
        record = packaging.open_record(uow, principal, order, body)
        uow.commit()
        return packaging.record_public(uow.session, record)


@router.post(PACKAGING + "/line-check", response_model=LineCheckPublic, status_code=201)
def line_check(order: str, body: LineCheckCreate, db: DbDep, principal: BatchExecute) -> LineCheckPublic:
    """The pre-packaging line check with its results, signed by the performer."""
    with uow_for(db, principal) as uow:
        check = packaging.record_line_check(uow, principal, order, body)
        uow.commit()
        return packaging.line_check_public(check)


@router.post(PACKAGING + "/line-check/verify", response_model=LineCheckPublic)
def verify_line_check(
    order: str, body: LineCheckVerify, db: DbDep, principal: BatchExecute
) -> LineCheckPublic:
    """The verifier's signature, by another person than the performer."""
    with uow_for(db, principal) as uow:
        check = packaging.verify_line_check(uow, principal, order, body)
        uow.commit()
        return packaging.line_check_public(check)


@router.post(PACKAGING + "/materials", response_model=MaterialCheckPublic, status_code=201)
def check_material(
    order: str, body: MaterialCheckCreate, db: DbDep, principal: BatchExecute
) -> MaterialCheckPublic:
    """A printed material as issued, against the current effective version of its artwork."""
    with uow_for(db, principal) as uow:
        check = packaging.check_material(uow, principal, order, body)
        uow.commit()
        return packaging.material_public(uow.session, check)


@router.post(PACKAGING + "/materials/{material}/specimens", response_model=SpecimenPublic, status_code=201)
async def add_specimen(
    order: str,
    material: str,
    db: DbDep,
    principal: BatchExecute,
    step: Annotated[str, Form()],
    image: Annotated[UploadFile, File()],
) -> SpecimenPublic:
    """A specimen image (PNG or JPEG) of a verified printed material, kept by SM3."""
    if not step.strip():
        raise ValidationFailed(N_("step: {problem}"), problem="required")
    data = await image.read(MAX_IMAGE + 1)
    with uow_for(db, principal) as uow:
        specimen = packaging.add_specimen(
            uow, principal, order, step, material, data, image.filename or "specimen"
        )
        uow.commit()
        return packaging.specimen_public(specimen)


@router.get(PACKAGING + "/specimens/{specimen_id}")
def specimen_image(order: str, specimen_id: int, db: DbDep, _: BatchView) -> Response:
    with db.sessions() as session:
        specimen, data = packaging.specimen_bytes(db, session, specimen_id)
        return Response(content=data, media_type=specimen.media_type)


@router.post(PACKAGING + "/print-checks", response_model=PrintCheckPublic, status_code=201)
def check_print(order: str, body: PrintCheckCreate, db: DbDep, principal: BatchExecute) -> PrintCheckPublic:
    """The batch number and expiry date as printed, against the batch's and the computed expiry."""
    with uow_for(db, principal) as uow:
        row = packaging.check_print(uow, principal, order, body)
        uow.commit()
        return packaging.print_public(row)


@router.post(PACKAGING + "/inspections", response_model=VisualInspectionPublic, status_code=201)
def inspect(
    order: str, body: VisualInspectionCreate, db: DbDep, principal: BatchExecute
) -> VisualInspectionPublic:
    """Visual inspection counts (灯检) by defect category."""
    with uow_for(db, principal) as uow:
        row = packaging.inspect(uow, principal, order, body)
        uow.commit()
        return packaging.inspection_public(row)


@router.post(PACKAGING + "/balance", response_model=BalancePublic, status_code=201)
def balance(order: str, body: BalanceCreate, db: DbDep, principal: BatchExecute) -> BalancePublic:
    """Finished units, samples and rejects against the bulk quantity."""
    with uow_for(db, principal) as uow:
        row = packaging.record_balance(uow, principal, order, body)
        uow.commit()
        return packaging.balance_public(row)


@router.post(PACKAGING + "/reconciliations", response_model=ReconciliationPublic, status_code=201)
def reconcile(
    order: str, body: ReconciliationCreate, db: DbDep, principal: BatchExecute
) -> ReconciliationPublic:
    """Printed material reconciliation: issued, used, destroyed, returned."""
    with uow_for(db, principal) as uow:
        row = packaging.reconcile(uow, principal, order, body)
        uow.commit()
        return packaging.reconciliation_public(row, body.material)
