"""Pages: batch release (批放行; TJ-6.3.4, TJ-6.4.7, TJ-9.1). The list of completed batches with their release
state and failing checklist items, released and rejected history; a batch's page with its checklist computed from
the record, the release summary (批放行生产及检定摘要), the decisions with their signatures and audit trail, and —
for the qualified person (``qms.release.decide``) — the decision form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import certificate_pdf, certificates
from pharmatrace.qms import deviations, release, release_pdf
from pharmatrace.qms.release_schemas import DecisionCreate
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render
from pharmatrace.wms.labels import STATUS_LABELS as LOT_STATUS_LABELS

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Decide = Annotated[Principal, Depends(Requires(release.DECIDE))]

LABELS = {
    "statuses": release.STATUS_LABELS,
    "states": release.STATE_LABELS,
    "decisions": release.DECISION_LABELS,
    "conclusions": deviations.CONCLUSION_LABELS,
    "deviation_status": deviations.STATUS_LABELS,
    "meanings": MEANINGS,
    "coa_states": certificates.STATE_LABELS,
    "coa_conclusions": certificates.CONCLUSION_LABELS,
    "verdicts": certificate_pdf.VERDICTS,
    "lot_status": LOT_STATUS_LABELS,
}


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


@router.get("/release", response_class=HTMLResponse)
def release_list(request: Request, db: DbDep, _: QmsView) -> Response:
    with db.sessions() as session:
        rows = release.candidates(session)
    awaiting = [r for r in rows if r.state in ("awaiting", "quarantine")]
    history = [r for r in rows if r.state not in ("awaiting", "quarantine")]
    return _render(request, "qms/release_list.html", awaiting=awaiting, history=history)


def _page(request: Request, db: DbDep, principal: Principal, batch_no: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        found = release.release_public(session, batch_no)
        order = release.get_batch(session, batch_no)
        involved = principal.login in release.involved(session, order)
        trail = trail_of(session, [(release.OBJECT_TYPE, [d.id for d in found.decisions])])
        ask_login = first_signature_pending(session, principal)
    texts = {item.code: i18n.translate(item.message, **item.params) for item in found.checklist}
    return _render(request, "qms/release_detail.html", status_code, r=found, s=found.summary, texts=texts,
                   involved=involved, trail=trail, ask_login=ask_login, **values)  # fmt: skip


@router.get("/release/{batch_no}", response_class=HTMLResponse)
def release_page(request: Request, db: DbDep, principal: QmsView, batch_no: str) -> Response:
    return _page(request, db, principal, batch_no)


@router.post("/release/{batch_no}/decision", response_class=HTMLResponse)
async def decide(request: Request, db: DbDep, principal: Decide, batch_no: str) -> Response:
    data = await form_data(request)
    data = {k: v for k, v in data.items() if k in ("decision", "reason", "password", "login") and v}
    return submit(db, principal, DecisionCreate, data,
                  write=lambda uow, body: release.decide(uow, principal, batch_no, body),
                  rerender=lambda status, **values: _page(request, db, principal, batch_no, status, form="decide",
                                                          **values),
                  reason=lambda body: body.reason or None,
                  done=f"/qms/release/{batch_no.strip().upper()}?done=1")  # fmt: skip


@router.get("/release/{batch_no}/summary.pdf")
def summary_pdf(db: DbDep, principal: QmsView, batch_no: str) -> Response:
    """The batch release summary as PDF; the export is recorded in the audit trail."""
    with UnitOfWork(db, principal.actor) as uow:
        found = release.release_public(uow.session, batch_no)
        order = release.get_batch(uow.session, batch_no)
        data = release_pdf.render_pdf(found, printed_by=principal.full_name, printed_at=clock.now(),
                                      translate=i18n.translate)  # fmt: skip
        uow.record("qms.release.pdf", "batch_order", order.id,
                   changes={"batch_no": [None, order.batch_no], "content_sm3": [None, found.content_sm3]},
                   reason=f"batch release summary of {order.batch_no} output as pdf")  # fmt: skip
        uow.commit()
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="{found.batch_no}-release.pdf"'})  # fmt: skip
