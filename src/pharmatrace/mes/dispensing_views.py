"""Pages: weighing and dispensing on a batch step, the weighing records and the scale endpoints (TJ-6.3.2.2,
TJ-6.4.3.3.e, TJ-B.2.2.2).

The batch step page includes ``mes/dispensing_panel.html``, which loads the panel from here
(``/mes/batches/{order}/steps/{step}/dispensing?partial=1``); the panel's forms post here and get the panel
back (htmx), or are redirected to the full dispensing page (without JavaScript).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from pharmatrace.equipment.models import Equipment
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, PharmaTraceError, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import dispensing, dispensing_labels
from pharmatrace.mes.dispensing_schemas import (
    ChargeCreate,
    IdentificationCreate,
    ManualWeighingCreate,
    ScaleEndpointCreate,
    ScaleEndpointUpdate,
    TareCreate,
    WeighingCreate,
)
from pharmatrace.mes.weighing_check import WEIGHING_CLASSES
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/mes", include_in_schema=False)

BatchView = Annotated[Principal, Depends(Requires("mes.batch.view"))]
BatchExecute = Annotated[Principal, Depends(Requires("mes.batch.execute"))]
EquipmentView = Annotated[Principal, Depends(Requires("equipment.view"))]
EquipmentManage = Annotated[Principal, Depends(Requires("equipment.manage"))]

SOURCE_LABELS = {"scale": N_("Read from the scale"), "manual": N_("Manual entry")}
CALIBRATION_LABELS = {
    "calibrated": N_("Calibrated"),
    "not_calibrated": N_("Not calibrated"),
    "out_of_tolerance": N_("Calibration failed"),
    "expired": N_("Calibration expired"),
    "not_required": N_("Not required"),
}
LABELS = {"source": SOURCE_LABELS, "calibration": CALIBRATION_LABELS}


def _trail(session: Session, object_type: str, object_id: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))
            .order_by(AuditEntry.leaf_index.desc())
        )
    )


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


# --- the dispensing panel of a batch step -------------------------------------------------------------


def _step_url(order: str, step: str) -> str:
    return f"/mes/batches/{quote(order)}/steps/{quote(step)}/dispensing"


def _scales(session: Session) -> list[Any]:
    return [dispensing.endpoint_public(session, e) for e in dispensing.list_endpoints(session)]


def _manual_scales(session: Session) -> list[tuple[str, str]]:
    found = session.scalars(
        select(Equipment)
        .where(Equipment.equipment_class.in_(WEIGHING_CLASSES), Equipment.voided_at.is_(None))
        .order_by(Equipment.code)
    )
    return [(e.code, e.name) for e in found]


def _step_page(
    request: Request, db: DbDep, principal: Principal, order: str, step: str, status_code: int = 200,
    *, partial: bool = False, **values: Any,
) -> Response:  # fmt: skip
    with db.sessions() as session:
        evidence = dispensing.step_evidence(session, order, step)
        context = dispensing.step_context(session, order, step)
        values.update(
            evidence=evidence, step=context.step, order=context.order, scales=_scales(session),
            manual_scales=_manual_scales(session), base_url=_step_url(context.order.batch_no, evidence.step_code),
        )  # fmt: skip
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    name = "mes/dispensing_body.html" if partial else "mes/dispensing_step.html"
    return render(request, name, status_code=status_code, labels=LABELS, **values)


@router.get("/batches/{order}/steps/{step}/dispensing", response_class=HTMLResponse)
def step_page(
    request: Request, db: DbDep, principal: BatchView, order: str, step: str, partial: int = 0, done: str = ""
) -> Response:
    """Weighing, identification or charging on the step: what it needs, what is recorded, the forms."""
    flash = i18n.gettext(N_("Recorded")) + (f" {done}" if done else "") if done else None
    return _step_page(request, db, principal, order, step, partial=bool(partial), flash=flash)


def _act(
    request: Request, db: DbDep, principal: Principal, order: str, step: str, form: str, data: dict[str, Any],
    schema: type[BaseModel], write: Any, done: Any,
) -> Response:  # fmt: skip
    """One action of the panel: validate, write, then the panel again (htmx) or a redirect; a refusal shows
    on the panel with its reasons (it was recorded by the service)."""
    partial = _htmx(request)
    body, errors = validate(schema, data)
    if body is None:
        first = next(iter(errors.values()), None)
        return _step_page(request, db, principal, order, step, 200 if partial else 422, partial=partial,
                          form=form, data=data, field_errors=errors, error=first)  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor) as uow:
            result = write(uow, body)
            uow.commit()
            shown = done(result)
    except PharmaTraceError as error:
        return _step_page(request, db, principal, order, step, 200 if partial else error.http_status,
                          partial=partial, form=form, data=data, error=i18n.error_message(error))  # fmt: skip
    if partial:
        return _step_page(request, db, principal, order, step, partial=True, flash=shown)
    return RedirectResponse(_step_url(order, step) + f"?done={quote(shown)}", status_code=303)


@router.post("/batches/{order}/steps/{step}/dispensing/tare", response_class=HTMLResponse)
async def tare_submit(
    request: Request, db: DbDep, principal: BatchExecute, order: str, step: str
) -> Response:
    data = await form_data(request)
    body, errors = validate(TareCreate, data)
    partial = _htmx(request)
    if body is None:
        return _step_page(request, db, principal, order, step, 200 if partial else 422, partial=partial,
                          form="weigh", data=data, field_errors=errors)  # fmt: skip
    try:
        with db.sessions() as session:
            weight = await run_in_threadpool(dispensing.tare, session, principal, order, step, body.scale)
    except PharmaTraceError as error:
        return _step_page(request, db, principal, order, step, 200 if partial else error.http_status,
                          partial=partial, form="weigh", data=data, error=i18n.error_message(error))  # fmt: skip
    flash = i18n.gettext(N_("Tared: %(weight)s")) % {"weight": str(weight)}
    return _step_page(
        request, db, principal, order, step, partial=partial, form="weigh", data=data, flash=flash
    )


@router.post("/batches/{order}/steps/{step}/dispensing/weigh", response_class=HTMLResponse)
async def weigh_submit(
    request: Request, db: DbDep, principal: BatchExecute, order: str, step: str
) -> Response:
    data = {k: v for k, v in (await form_data(request)).items() if v != ""}
    # the scale is read in a worker thread: the event loop does not wait for a stable weight
    return await run_in_threadpool(_act, request, db, principal, order, step, "weigh", data, WeighingCreate,
                                   lambda uow, body: dispensing.weigh(uow, principal, order, step, body),
                                   lambda record: record.code)  # fmt: skip


@router.post("/batches/{order}/steps/{step}/dispensing/manual", response_class=HTMLResponse)
async def manual_submit(
    request: Request, db: DbDep, principal: BatchExecute, order: str, step: str
) -> Response:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    photo = form.get("photo")
    content, name = b"", "photo"
    if photo is not None and not isinstance(photo, str):
        content, name = await photo.read(dispensing.EVIDENCE.max_bytes + 1), photo.filename or "photo"

    def write(uow: UnitOfWork, body: ManualWeighingCreate) -> Any:
        if not content:
            raise ValidationFailed(N_("A photo of the scale's display is required"))
        return dispensing.weigh_manually(uow, principal, order, step, body, content, name)

    return _act(request, db, principal, order, step, "manual", data, ManualWeighingCreate, write,
                lambda record: record.code)  # fmt: skip


@router.post("/batches/{order}/steps/{step}/dispensing/identify", response_class=HTMLResponse)
async def identify_submit(
    request: Request, db: DbDep, principal: BatchExecute, order: str, step: str
) -> Response:
    data = await form_data(request)
    return _act(request, db, principal, order, step, "identify", data, IdentificationCreate,
                lambda uow, body: dispensing.identify(uow, principal, order, step, body),
                lambda record: record.container_code)  # fmt: skip


@router.post("/batches/{order}/steps/{step}/dispensing/charge", response_class=HTMLResponse)
async def charge_submit(
    request: Request, db: DbDep, principal: BatchExecute, order: str, step: str
) -> Response:
    data = {k: v for k, v in (await form_data(request)).items() if v != ""}
    return _act(request, db, principal, order, step, "charge", data, ChargeCreate,
                lambda uow, body: dispensing.charge(uow, principal, order, step, body),
                lambda record: record.container_code)  # fmt: skip


# --- weighing records ---------------------------------------------------------------------------------


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text.strip() else None
    except ValueError:
        return None


@router.get("/weighings", response_class=HTMLResponse)
def weighings_page(
    request: Request, db: DbDep, _: BatchView, q: str = "", batch: str = "", material: str = "", step: str = "",
    source: str = "", since: str = "", until: str = "",
) -> Response:  # fmt: skip
    """Weighing records, newest first, filtered by batch, material or lot, step, source and date. A scanned
    weighing label (``q``) opens its record with the full weighing data (TJ-6.3.2.2.c)."""
    filters = {"q": q, "batch": batch, "material": material, "step": step, "source": source, "since": since,
               "until": until}  # fmt: skip
    with db.sessions() as session:
        if q.strip():
            scanned = dispensing.weighing_by_code(session, q)
            if scanned is not None:
                return RedirectResponse(f"/mes/weighings/{scanned.id}", status_code=303)
        found = dispensing.list_weighings(session, batch_no=batch, material=material, step=step, source=source,
                                          since=_day(since), until=_day(until))  # fmt: skip
        charged = dispensing.charged_weighings(session, (w.id for w in found))
        rows = [dispensing.weighing_public(w, charged=w.id in charged) for w in found]
    return render(request, "mes/weighings.html", weighings=rows, filters=filters, labels=LABELS)


def _record_page(
    request: Request, db: DbDep, principal: Principal, weighing_id: int, **values: Any
) -> Response:
    from pharmatrace.kernel.esign.views import panel

    with db.sessions() as session:
        record = dispensing.get_weighing(session, weighing_id)
        charged = dispensing.charged_weighings(session, [record.id])
        public = dispensing.weighing_public(record, charged=record.id in charged)
        verifier = dispensing_labels.verifier_of(session, record)
        trail = _trail(session, "weighing_record", record.id)
        esign = panel(session, principal, "weighing_record", str(record.id))
    return render(request, "mes/weighing_record.html", weighing=public, verifier=verifier, trail=trail,
                  labels=LABELS, esign=esign, **values)  # fmt: skip


@router.get("/weighings/{weighing_id}", response_class=HTMLResponse)
def weighing_page(request: Request, db: DbDep, principal: BatchView, weighing_id: int) -> Response:
    """One weighing record: the scale and its status, the weights, the data set, the trail, label reprint."""
    return _record_page(request, db, principal, weighing_id)


@router.post("/weighings/{weighing_id}/label", response_class=HTMLResponse)
async def weighing_label(request: Request, db: DbDep, principal: BatchExecute, weighing_id: int) -> Response:
    """Print (or reprint) the weighing label as PDF; the print is recorded."""
    data = await form_data(request)
    fmt: dispensing_labels.Format = "zpl" if data.get("format") == "zpl" else "pdf"
    with UnitOfWork(db, principal.actor, reason=data.get("reason") or None) as uow:
        record = dispensing.get_weighing(uow.session, weighing_id)
        code = record.code
        content = dispensing_labels.print_label(uow, record, fmt)
        uow.commit()
    media = "application/pdf" if fmt == "pdf" else "text/plain; charset=utf-8"
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'inline; filename="{code}.{fmt}"'}
    )


@router.get("/weighings/{weighing_id}/photo")
def weighing_photo(db: DbDep, _: BatchView, weighing_id: int) -> Response:
    with db.sessions() as session:
        record = dispensing.get_weighing(session, weighing_id)
        content = dispensing.photo_bytes(db, record)
    media = "image/png" if content.startswith(b"\x89PNG") else "image/jpeg"
    return Response(content, media_type=media)


# --- scale endpoints ----------------------------------------------------------------------------------


def _scales_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        endpoints = [dispensing.endpoint_public(session, e) for e in dispensing.list_endpoints(session)]
        instruments = _manual_scales(session)
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    return render(request, "mes/dispensing_scales.html", status_code=status_code, endpoints=endpoints,
                  instruments=instruments, labels=LABELS, **values)  # fmt: skip


@router.get("/scales", response_class=HTMLResponse)
def scales_page(request: Request, db: DbDep, _: EquipmentView, done: int = 0) -> Response:
    """Which scale answers MT-SICS at which address."""
    return _scales_page(request, db, flash=i18n.gettext(N_("Saved")) if done else None)


@router.post("/scales", response_class=HTMLResponse)
async def scale_create(request: Request, db: DbDep, principal: EquipmentManage) -> Response:
    return submit(db, principal, ScaleEndpointCreate, await form_data(request),
                  write=lambda uow, body: dispensing.register_endpoint(uow, body),
                  rerender=lambda status, **values: _scales_page(request, db, status, **values),
                  done="/mes/scales?done=1")  # fmt: skip


@router.post("/scales/{endpoint_id}", response_class=HTMLResponse)
async def scale_update(request: Request, db: DbDep, principal: EquipmentManage, endpoint_id: int) -> Response:
    return submit(db, principal, ScaleEndpointUpdate, await form_data(request),
                  write=lambda uow, body: dispensing.update_endpoint(uow, endpoint_id, body),
                  rerender=lambda status, **values: _scales_page(request, db, status, **values),
                  done="/mes/scales?done=1", reason=lambda body: body.reason)  # fmt: skip
