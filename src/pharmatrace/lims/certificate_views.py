"""Pages: certificates of analysis (list, issue, detail with the signing and QA's decision forms, print view and
PDF) under ``/lims/certificates`` (TJ-7.1, TJ-9.1, TJ-5.2.1.4). The print view and the PDF are recorded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import certificate_pdf, certificates
from pharmatrace.lims.certificate_models import Certificate
from pharmatrace.lims.certificate_schemas import (
    CertificateIssue,
    CertificateSign,
    CertificateVoid,
    LotDecisionCreate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/lims", include_in_schema=False)

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
Reviewer = Annotated[Principal, Depends(Requires("lims.result.review"))]
Decider = Annotated[Principal, Depends(Requires("wms.material.approve"))]

LABELS = {
    "states": certificates.STATE_LABELS,
    "conclusions": certificates.CONCLUSION_LABELS,
    "decisions": certificates.DECISION_LABELS,
    "answers": certificates.ANSWER_LABELS,
    "verdicts": certificate_pdf.VERDICTS,
    "signatures": certificate_pdf.SIGNATURE_STATES,
}


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _trail(session: Session, certificate: Certificate) -> list[AuditEntry]:
    pairs = [
        ("lims_certificate", [certificate.id]),
        ("lims_certificate_signoff", [s.id for s in certificate.signoffs]),
        ("lims_lot_decision", [d.id for d in certificate.decisions]),
    ]
    return trail_of(session, pairs)


@router.get("/certificates", response_class=HTMLResponse)
def list_page(request: Request, db: DbDep, _: LimsView, state: str = "", q: str = "") -> Response:
    return _list_page(request, db, state=state, q=q)


def _list_page(request: Request, db: DbDep, status_code: int = 200, *, state: str = "", q: str = "",
               **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        rows = [certificates.certificate_public(c) for c in certificates.list_certificates(session, state=state,
                                                                                            text=q)]  # fmt: skip
    return _render(request, "lims/certificates.html", status_code, rows=rows, state=state, q=q, **values)


@router.post("/certificates", response_class=HTMLResponse)
async def issue(request: Request, db: DbDep, principal: LimsView) -> Response:
    data = await form_data(request)
    data = {k: v for k, v in data.items() if k in ("lot", "spec_code") and v}
    return submit(db, principal, CertificateIssue, data,
                  write=lambda uow, body: certificates.issue(uow, principal, body),
                  rerender=lambda status, **values: _list_page(request, db, status, form="issue", **values),
                  done=lambda made: f"/lims/certificates/{made.id}?done=1")  # type: ignore[attr-defined]  # fmt: skip


def _page(request: Request, db: DbDep, principal: Principal, certificate_id: int, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        certificate = certificates.get_certificate(session, certificate_id)
        detail = certificates.certificate_detail(session, certificate)
        analysts = certificates.analysts_of(session, certificate)
        trail = _trail(session, certificate)
        ask_login = first_signature_pending(session, principal)
    return _render(request, "lims/certificate_detail.html", status_code, c=detail, analysts=analysts, trail=trail,
                   ask_login=ask_login, **values)  # fmt: skip


@router.get("/certificates/{certificate_id}", response_class=HTMLResponse)
def detail_page(request: Request, db: DbDep, principal: LimsView, certificate_id: int) -> Response:
    return _page(request, db, principal, certificate_id)


def _form(request: Request, db: DbDep, principal: Principal, certificate_id: int, form: str) -> Any:
    return lambda status, **values: _page(request, db, principal, certificate_id, status, form=form, **values)


@router.post("/certificates/{certificate_id}/sign", response_class=HTMLResponse)
async def sign(request: Request, db: DbDep, principal: Reviewer, certificate_id: int) -> Response:
    data = await form_data(request)
    data = {k: v for k, v in data.items() if k in ("password", "login", "comment") and v}
    return submit(db, principal, CertificateSign, data,
                  write=lambda uow, body: certificates.sign(uow, principal, certificate_id, body),
                  rerender=_form(request, db, principal, certificate_id, "sign"),
                  done=f"/lims/certificates/{certificate_id}?done=1")  # fmt: skip


@router.post("/certificates/{certificate_id}/void", response_class=HTMLResponse)
async def void(request: Request, db: DbDep, principal: LimsView, certificate_id: int) -> Response:
    data = await form_data(request)
    return submit(db, principal, CertificateVoid, {"reason": data.get("reason", "")},
                  write=lambda uow, body: certificates.void(uow, principal, certificate_id, body.reason),
                  rerender=_form(request, db, principal, certificate_id, "void"), reason=lambda body: body.reason,
                  done=f"/lims/certificates/{certificate_id}?done=1")  # fmt: skip


@router.post("/certificates/{certificate_id}/decision", response_class=HTMLResponse)
async def decide(request: Request, db: DbDep, principal: Decider, certificate_id: int) -> Response:
    data = await form_data(request)
    data = {k: v for k, v in data.items() if k in ("decision", "reason", "password", "login") and v}
    return submit(db, principal, LotDecisionCreate, data,
                  write=lambda uow, body: certificates.decide(uow, principal, certificate_id, body),
                  rerender=_form(request, db, principal, certificate_id, "decide"), reason=lambda body: body.reason,
                  done=f"/lims/certificates/{certificate_id}?done=1")  # fmt: skip


@router.get("/certificates/{certificate_id}/print", response_class=HTMLResponse)
def print_view(request: Request, db: DbDep, principal: LimsView, certificate_id: int) -> Response:
    """The certificate as printed on paper; the print is recorded in the audit trail."""
    with UnitOfWork(db, principal.actor) as uow:
        certificate = certificates.get_certificate(uow.session, certificate_id)
        detail = certificates.certificate_detail(uow.session, certificate)
        certificates.record_output(uow, certificate, "html")
        uow.commit()
    return _render(request, "lims/certificate_print.html", c=detail, printed_at=clock.now())


@router.get("/certificates/{certificate_id}/pdf")
def pdf(db: DbDep, principal: LimsView, certificate_id: int) -> Response:
    """The certificate as PDF; the export is recorded in the audit trail."""
    with UnitOfWork(db, principal.actor) as uow:
        certificate = certificates.get_certificate(uow.session, certificate_id)
        detail = certificates.certificate_detail(uow.session, certificate)
        data = certificate_pdf.render_pdf(detail, printed_by=principal.full_name, printed_at=clock.now(),
                                          translate=i18n.gettext)  # fmt: skip
        certificates.record_output(uow, certificate, "pdf")
        uow.commit()
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="{detail.code}.pdf"'})  # fmt: skip
