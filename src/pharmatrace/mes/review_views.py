"""Pages: QA review by exception (TJ-6.4.7) and the electronic batch record (TJ-6.4.3.5).

* ``/mes/review``: the exceptions only, across batches, filtered (batch, product, kind, status, dates) and
  sortable; each row links to its step, and the batch's whole record is one click away;
* ``/mes/batches/{order_no}/review``: one batch's exceptions, then the QA review sign-off (signed);
* ``/mes/records``: batch records searchable by batch, product and date;
* ``/mes/batches/{order_no}/record`` (HTML) and ``…/record.pdf`` (PDF/A-2B): the complete record; each
  reading as a document and each export is audited (``ebr.export``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import or_, select

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import ebr, ebr_pdf, execution, review
from pharmatrace.mes.ebr import SIGNATURE_STATES
from pharmatrace.mes.recipe_views import STEP_LABELS
from pharmatrace.mes.review_schemas import ReviewFilter
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data
from pharmatrace.web.templating import render

router = APIRouter(prefix="/mes", include_in_schema=False)

BatchReviewer = Annotated[Principal, Depends(Requires("mes.batch.review"))]
RecordReader = Annotated[Principal, Depends(Requires("audit.trail.view"))]

LABELS = {
    "kinds": review.KIND_LABELS, "status": review.STATUS_LABELS, "order_status": execution.ORDER_STATUS_LABELS,
    "states": execution.STEP_STATE_LABELS, "steps": STEP_LABELS, "roles": execution.SIGNOFF_ROLE_LABELS,
    "meanings": MEANINGS, "signature_states": SIGNATURE_STATES, "phases": ebr.CLEARANCE_PHASE_LABELS,
}  # fmt: skip


def _render(request: Request, template: str, **values: Any) -> Response:
    values.setdefault("done", request.query_params.get("done"))
    values.setdefault("error", request.query_params.get("error"))
    return render(request, template, labels=LABELS, late_minutes=review.LATE_SIGNATURE_MINUTES, **values)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/review", response_class=HTMLResponse)
def review_list(
    request: Request, db: DbDep, principal: BatchReviewer, batch: str = "", product: str = "", kind: str = "",
    status: str = "", date_from: str = "", date_to: str = "",
) -> Response:  # fmt: skip
    """The review by exception across batches: the exceptions only, newest first (sortable)."""
    kind = kind if kind in review.KIND_LABELS or kind == "deviation" else ""
    status = status if status in review.STATUS_LABELS else ""
    f = ReviewFilter(batch=batch[:64], product=product[:64], kind=kind, status=status, date_from=_date(date_from),
                     date_to=_date(date_to))  # fmt: skip
    with db.sessions() as session:
        items = review.review_items(session, f)
    return _render(request, "mes/review.html", items=items, f=f, kinds=list(review.KIND_LABELS),
                   statuses=list(review.STATUS_LABELS), date_from=date_from, date_to=date_to)  # fmt: skip


def _trail(session: Any, order_id: int, review_id: int | None) -> list[AuditEntry]:
    conditions = [
        (AuditEntry.object_type == "batch_order") & (AuditEntry.object_id == str(order_id))
        & AuditEntry.event.in_([review.REVIEW_REFUSED_EVENT, ebr.EXPORT_EVENT, "update"]),
    ]  # fmt: skip
    if review_id is not None:
        conditions.append(
            (AuditEntry.object_type == review.REVIEW_TYPE) & (AuditEntry.object_id == str(review_id))
        )
    return list(session.scalars(
        select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.leaf_index.desc()).limit(200)
    ))  # fmt: skip


@router.get("/batches/{order_no}/review", response_class=HTMLResponse)
def batch_review(request: Request, db: DbDep, principal: BatchReviewer, order_no: str) -> Response:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        done = review.review_of(session, order)
        problem = review.review_problem(session, principal, order) if done is None else None
        return _render(
            request, "mes/review_batch.html", order=execution.order_public(session, order),
            items=review.review_items(session, order_ids=[order.id]), review=done,
            signatures=esign.manifestations(session, review.REVIEW_TYPE, str(done.id)) if done else [],
            problem=i18n.error_message(problem) if problem else None, trail=_trail(session, order.id, done.id if done else None),
            ask_login=first_signature_pending(session, principal),
        )  # fmt: skip


@router.post("/batches/{order_no}/review", response_class=HTMLResponse)
async def batch_review_sign(request: Request, db: DbDep, principal: BatchReviewer, order_no: str) -> Response:
    data = await form_data(request)
    url = f"/mes/batches/{quote(order_no)}/review"
    try:
        with UnitOfWork(db, principal.actor) as uow:
            order = execution.get_order(uow.session, order_no)
            review.review_batch(uow, principal, order, password=str(data.get("password", "")),
                                login=str(data.get("login", "")) or None, comment=str(data.get("comment", ""))[:500])  # fmt: skip
            uow.commit()
    except (PharmaTraceError, ValidationError) as error:
        message = i18n.error_message(error) if isinstance(error, PharmaTraceError) else str(error)
        return RedirectResponse(f"{url}?error={quote(message)}", status_code=303)
    return RedirectResponse(
        f"{url}?done={quote(i18n.gettext(N_('Reviewed and handed to release')))}", status_code=303
    )


@router.get("/records", response_class=HTMLResponse)
def record_list(
    request: Request, db: DbDep, principal: RecordReader, batch: str = "", product: str = "", date_from: str = "",
    date_to: str = "",
) -> Response:  # fmt: skip
    with db.sessions() as session:
        orders = ebr.list_records(session, batch=batch[:64], product=product[:64], date_from=_date(date_from),
                                  date_to=_date(date_to))  # fmt: skip
        rows = [{"order": o, "review": review.review_of(session, o)} for o in orders]
    return _render(request, "mes/ebr_list.html", rows=rows, batch=batch, product=product, date_from=date_from,
                   date_to=date_to)  # fmt: skip


@router.get("/batches/{order_no}/record", response_class=HTMLResponse)
def record_page(request: Request, db: DbDep, principal: RecordReader, order_no: str) -> Response:
    """The complete batch record as one page; reading it as a document is audited."""
    with UnitOfWork(db, principal.actor) as uow:
        record = ebr.read_record(uow, order_no, "html")
        uow.commit()
    return _render(request, "mes/ebr.html", record=record)


@router.get("/batches/{order_no}/record.pdf")
def record_pdf(db: DbDep, principal: RecordReader, order_no: str) -> Response:
    content, filename = ebr_pdf.export_record_pdf(db, principal, order_no, translate=i18n.gettext)
    return Response(content, media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})  # fmt: skip
