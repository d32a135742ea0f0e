"""``/api/v1/mes`` — scale endpoints, weighing, material identification and charging on batch steps
(TJ-6.3.2.2, TJ-6.4.3.3.e, TJ-B.2.2.2). A weight is read from the scale by the server; no route takes one
from the client except the manual fallback, which needs a reason, a photo and a supervisor's approval."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError

from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.mes import dispensing, dispensing_labels
from pharmatrace.mes.dispensing_schemas import (
    ChargeCreate,
    ChargePublic,
    IdentificationCreate,
    IdentificationPublic,
    ManualWeighingCreate,
    ScaleEndpointCreate,
    ScaleEndpointPublic,
    ScaleEndpointUpdate,
    StepEvidence,
    TareCreate,
    TarePublic,
    WeighingCreate,
    WeighingPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/mes", tags=["mes"])

BatchView = Annotated[Principal, Depends(Requires("mes.batch.view"))]
BatchExecute = Annotated[Principal, Depends(Requires("mes.batch.execute"))]
EquipmentView = Annotated[Principal, Depends(Requires("equipment.view"))]
EquipmentManage = Annotated[Principal, Depends(Requires("equipment.manage"))]
STEP = "/batches/{order}/steps/{step}"
MAX_PHOTO = dispensing.EVIDENCE.max_bytes


# --- scale endpoints ------------------------------------------------------------------------------------


@router.get("/scales", response_model=list[ScaleEndpointPublic])
def list_scales(db: DbDep, _: EquipmentView) -> list[ScaleEndpointPublic]:
    with db.sessions() as session:
        return [dispensing.endpoint_public(session, e) for e in dispensing.list_endpoints(session)]


@router.post("/scales", response_model=ScaleEndpointPublic, status_code=201)
def register_scale(body: ScaleEndpointCreate, db: DbDep, principal: EquipmentManage) -> ScaleEndpointPublic:
    with uow_for(db, principal) as uow:
        endpoint = dispensing.register_endpoint(uow, body)
        uow.commit()
        return dispensing.endpoint_public(uow.session, endpoint)


@router.patch("/scales/{endpoint_id}", response_model=ScaleEndpointPublic)
def update_scale(
    endpoint_id: int, body: ScaleEndpointUpdate, db: DbDep, principal: EquipmentManage
) -> ScaleEndpointPublic:
    with uow_for(db, principal) as uow:
        endpoint = dispensing.update_endpoint(uow, endpoint_id, body)
        uow.commit()
        return dispensing.endpoint_public(uow.session, endpoint)


# --- on a batch step ------------------------------------------------------------------------------------


@router.get(STEP + "/evidence", response_model=StepEvidence)
def step_evidence(order: str, step: str, db: DbDep, _: BatchView) -> StepEvidence:
    """What the step needs, what is recorded for it, and what it still lacks before completion."""
    with db.sessions() as session:
        return dispensing.step_evidence(session, order, step)


@router.post(STEP + "/tare", response_model=TarePublic)
def tare(order: str, step: str, body: TareCreate, db: DbDep, principal: BatchExecute) -> TarePublic:
    """MT-SICS ``T``: the empty vessel on the pan becomes the tare."""
    with db.sessions() as session:
        weight = dispensing.tare(session, principal, order, step, body.scale)
    return TarePublic(scale=body.scale, tare=weight.value, unit=weight.unit)


@router.get(STEP + "/weighings", response_model=list[WeighingPublic])
def list_step_weighings(order: str, step: str, db: DbDep, _: BatchView) -> list[WeighingPublic]:
    with db.sessions() as session:
        return dispensing.step_evidence(session, order, step).weighings


@router.post(STEP + "/weighings", response_model=WeighingPublic, status_code=201)
def weigh(order: str, step: str, body: WeighingCreate, db: DbDep, principal: BatchExecute) -> WeighingPublic:
    """Weigh from the scanned container: tare and stable net weight read from the scale over MT-SICS."""
    with uow_for(db, principal) as uow:
        record = dispensing.weigh(uow, principal, order, step, body)
        uow.commit()
        return dispensing.weighing_public(record)


@router.post(STEP + "/manual-weighings", response_model=WeighingPublic, status_code=201)
async def weigh_manually(
    order: str,
    step: str,
    db: DbDep,
    principal: BatchExecute,
    container: Annotated[str, Form()],
    scale: Annotated[str, Form()],
    tare: Annotated[str, Form()],
    net: Annotated[str, Form()],
    reason: Annotated[str, Form()],
    supervisor: Annotated[str, Form()],
    supervisor_password: Annotated[str, Form()],
    photo: Annotated[UploadFile, File()],
    portion: Annotated[str, Form()] = "",
) -> WeighingPublic:
    """The permitted fallback: the weights as shown, a reason, a photo of the display, a supervisor's
    approval; raises a ``manual_weighing`` exception for review."""
    body = _manual(
        {"container": container, "scale": scale, "portion": portion or None, "tare": tare, "net": net,
         "reason": reason, "supervisor": supervisor, "supervisor_password": supervisor_password}
    )  # fmt: skip
    data = await photo.read(MAX_PHOTO + 1)
    with uow_for(db, principal) as uow:
        record = dispensing.weigh_manually(uow, principal, order, step, body, data, photo.filename or "photo")
        uow.commit()
        return dispensing.weighing_public(record)


def _manual(fields: dict[str, object]) -> ManualWeighingCreate:
    try:
        return ManualWeighingCreate.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        raise ValidationFailed(
            N_("{field}: {problem}"), field=".".join(str(p) for p in first["loc"]), problem=first["msg"]
        ) from None


@router.get(STEP + "/identifications", response_model=list[IdentificationPublic])
def list_identifications(order: str, step: str, db: DbDep, _: BatchView) -> list[IdentificationPublic]:
    with db.sessions() as session:
        return dispensing.step_evidence(session, order, step).identifications


@router.post(STEP + "/identifications", response_model=IdentificationPublic, status_code=201)
def identify(
    order: str, step: str, body: IdentificationCreate, db: DbDep, principal: BatchExecute
) -> IdentificationPublic:
    """Scan a container: material, lot, status and label compared with the control recipe."""
    with uow_for(db, principal) as uow:
        record = dispensing.identify(uow, principal, order, step, body)
        uow.commit()
        return dispensing.identification_public(record)


@router.get(STEP + "/charges", response_model=list[ChargePublic])
def list_charges(order: str, step: str, db: DbDep, _: BatchView) -> list[ChargePublic]:
    with db.sessions() as session:
        return dispensing.step_evidence(session, order, step).charges


@router.post(STEP + "/charges", response_model=ChargePublic, status_code=201)
def charge(order: str, step: str, body: ChargeCreate, db: DbDep, principal: BatchExecute) -> ChargePublic:
    """Charge a weighed portion (its label scanned) or a quantity from an identified container."""
    with uow_for(db, principal) as uow:
        record = dispensing.charge(uow, principal, order, step, body)
        uow.commit()
        return dispensing.charge_public(record)


# --- weighing records -----------------------------------------------------------------------------------


@router.get("/weighings", response_model=list[WeighingPublic])
def list_weighings(
    db: DbDep, _: BatchView, batch: str = "", material: str = "", step: str = "", source: str = "",
    weigher: str = "", since: date | None = None, until: date | None = None,
) -> list[WeighingPublic]:  # fmt: skip
    """Weighing records, newest first; ``material`` matches a material code or name or a lot number."""
    with db.sessions() as session:
        found = dispensing.list_weighings(session, batch_no=batch, material=material, step=step, source=source,
                                          weigher=weigher, since=since, until=until)  # fmt: skip
        charged = dispensing.charged_weighings(session, (w.id for w in found))
        return [dispensing.weighing_public(w, charged=w.id in charged) for w in found]


@router.get("/weighings/{weighing_id}", response_model=WeighingPublic)
def get_weighing(weighing_id: int, db: DbDep, _: BatchView) -> WeighingPublic:
    with db.sessions() as session:
        record = dispensing.get_weighing(session, weighing_id)
        charged = dispensing.charged_weighings(session, [record.id])
        return dispensing.weighing_public(record, charged=record.id in charged)


@router.get("/weighings/{weighing_id}/photo")
def weighing_photo(weighing_id: int, db: DbDep, _: BatchView) -> Response:
    """The photo of a manual weighing's display, checked against its SM3 hash."""
    with db.sessions() as session:
        record = dispensing.get_weighing(session, weighing_id)
        data = dispensing.photo_bytes(db, record)
    media = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return Response(data, media_type=media)


@router.post("/weighings/{weighing_id}/label")
def print_label(
    weighing_id: int, db: DbDep, principal: BatchExecute, fmt: Literal["pdf", "zpl"] = "pdf"
) -> Response:
    """The weighing label (PDF or ZPL); the print is recorded."""
    with uow_for(db, principal) as uow:
        record = dispensing.get_weighing(uow.session, weighing_id)
        code = record.code
        data = dispensing_labels.print_label(uow, record, fmt)
        uow.commit()
    media = "application/pdf" if fmt == "pdf" else "text/plain; charset=utf-8"
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'inline; filename="{code}.{fmt}"'}
    )
