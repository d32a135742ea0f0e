"""Pages: the list of product quality reviews, the compile form (product and year, or a period), a review's page
(every compiled section with its counts and rows, the yield and assay trend charts drawn by the local ECharts from
JSON in the page, QA's conclusions form, recompiling, the qualified person's signed approval, the earlier versions
and the audit trail), a printable view and the review as PDF, its print recorded in the audit trail (TJ-9.4,
SH-6.2.4, TJ-10.1.1.1). Plain forms, usable on a tablet."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims.oos_views import PHASE_LABELS as OOS_PHASE_LABELS
from pharmatrace.lims.oos_views import STATUS_LABELS as OOS_STATUS_LABELS
from pharmatrace.lims.results import VERDICT_LABELS
from pharmatrace.lims.stability_models import STATUS_LABELS as STUDY_STATUS_LABELS
from pharmatrace.lims.stability_models import STUDY_TYPE_LABELS
from pharmatrace.mes.ebr import SIGNATURE_STATES
from pharmatrace.mes.execution import ORDER_STATUS_LABELS
from pharmatrace.qms import deviations, pqr_pdf
from pharmatrace.qms import pqr as service
from pharmatrace.qms.change_models import CLASS_LABELS as CHANGE_CLASS_LABELS
from pharmatrace.qms.change_models import STATUS_LABELS as CHANGE_STATUS_LABELS
from pharmatrace.qms.change_models import TYPE_LABELS as CHANGE_TYPE_LABELS
from pharmatrace.qms.complaint_models import CATEGORY_LABELS, CLASSIFICATION_LABELS
from pharmatrace.qms.complaint_models import STATUS_LABELS as COMPLAINT_STATUS_LABELS
from pharmatrace.qms.pqr_models import SECTION_LABELS, SECTIONS, STATUS_LABELS, ProductQualityReview
from pharmatrace.qms.pqr_schemas import PqrApprove, PqrCompile, PqrRecompile, PqrReview
from pharmatrace.qms.recall_models import KIND_LABELS as RECALL_KIND_LABELS
from pharmatrace.qms.recall_models import LEVEL_LABELS as RECALL_LEVEL_LABELS
from pharmatrace.qms.recall_models import STATUS_LABELS as RECALL_STATUS_LABELS
from pharmatrace.qms.release import STATE_LABELS as RELEASE_LABELS
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, form_data, saved, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires(service.VIEW_PERMISSION))]
Manager = Annotated[Principal, Depends(Requires(service.MANAGE_PERMISSION))]
QP = Annotated[Principal, Depends(Requires(service.APPROVE_PERMISSION))]

LABELS = {
    "status": STATUS_LABELS,
    "sections": SECTION_LABELS,
    "meanings": MEANINGS,
    "batch_status": ORDER_STATUS_LABELS,
    "release": RELEASE_LABELS,
    "deviation_status": deviations.STATUS_LABELS,
    "deviation_class": {**deviations.CLASS_LABELS, "unclassified": N_("Not classified")},
    "impact": deviations.CONCLUSION_LABELS,
    "verdict": VERDICT_LABELS,
    "oos_phase": OOS_PHASE_LABELS,
    "oos_status": OOS_STATUS_LABELS,
    "change_type": CHANGE_TYPE_LABELS,
    "change_class": {**CHANGE_CLASS_LABELS, "unclassified": N_("Not classified")},
    "change_status": CHANGE_STATUS_LABELS,
    "complaint_category": CATEGORY_LABELS,
    "complaint_class": {**CLASSIFICATION_LABELS, "unclassified": N_("Not classified")},
    "complaint_status": COMPLAINT_STATUS_LABELS,
    "recall_kind": RECALL_KIND_LABELS,
    "recall_level": RECALL_LEVEL_LABELS,
    "recall_status": RECALL_STATUS_LABELS,
    "study_type": STUDY_TYPE_LABELS,
    "study_status": STUDY_STATUS_LABELS,
    "signature": SIGNATURE_STATES,
}


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("field_errors", {})
    values.setdefault("done", request.query_params.get("done"))
    values.setdefault("printable", False)
    values.setdefault("comments_inline", False)
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, sections=SECTIONS, **values)


def _url(number: str) -> str:
    return f"/qms/pqr/{quote(number)}"


# --- the list ------------------------------------------------------------------------------------------------


@router.get("/pqr", response_class=HTMLResponse)
def pqr_list(request: Request, db: DbDep, _: QmsView, q: str = "", status: str = "") -> Response:
    """Every review's live version with its product, period, state and headline counts."""
    with db.sessions() as session:
        rows = [service.pqr_public(p) for p in service.list_pqrs(session, status=status, text=q)]
    return _render(request, "qms/pqr_list.html", rows=rows, q=q, status=status)


# --- compiling -----------------------------------------------------------------------------------------------


def _new(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        choices = [(p.code, p.name) for p in service.products(session)]
    return _render(request, "qms/pqr_new.html", status_code, products=choices, this_year=service.today().year,
                   **values)  # fmt: skip


@router.get("/pqr/new", response_class=HTMLResponse)
def new_page(request: Request, db: DbDep, _: Manager, product: str = "") -> Response:
    return _new(request, db, data={"product": product, "year": str(service.today().year)})


@router.post("/pqr/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Manager) -> Response:
    data = await form_data(request)
    values = {k: str(data.get(k, "")).strip() for k in ("product", "year", "period_start", "period_end")}
    values = {k: v for k, v in values.items() if v}
    if "period_start" in values or "period_end" in values:
        values.pop("year", None)
    return submit(db, principal, PqrCompile, values,
                  write=lambda uow, body: service.compile_review(uow, principal, body),
                  rerender=lambda status, **v: _new(request, db, status, **{**v, "data": data}),
                  done=lambda pqr: _url(getattr(pqr, "number", "")) + saved())  # fmt: skip


# --- a review ------------------------------------------------------------------------------------------------


def _trail(session: Session, number: str) -> list[AuditEntry]:
    versions = service.versions_of(session, number)
    pairs = [
        ("qms_pqr", [v.id for v in versions]),
        ("qms_pqr_decision", [d.id for v in versions for d in v.decisions]),
    ]
    return trail_of(session, pairs)


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          version: int | None = None, template: str = "qms/pqr_detail.html", **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        pqr: ProductQualityReview = service.get_pqr(session, number, version)
        detail = service.pqr_detail(session, pqr)
        may = {
            name: service.allowed(session, principal, pqr, name)
            for name in ("review", "recompile", "approve")
        }
        trail = _trail(session, pqr.number)
        ask_login = first_signature_pending(session, principal)
    live = detail.status != "superseded"
    may = {k: v and live for k, v in may.items()}
    # the signature form is shown to a qualified person who did not compile this version, once it is in review
    may["approve_form"] = (live and detail.status == "in_review" and principal.can(service.APPROVE_PERMISSION)
                           and principal.login not in (detail.compiled_by, detail.reviewed_by))  # fmt: skip
    return _render(request, template, status_code, p=detail, may=may, trail=trail, ask_login=ask_login,
                   **values)  # fmt: skip


@router.get("/pqr/{number}", response_class=HTMLResponse)
def pqr_page(
    request: Request, db: DbDep, principal: QmsView, number: str, version: int | None = None
) -> Response:
    return _page(request, db, principal, number, version=version)


@router.get("/pqr/{number}/print", response_class=HTMLResponse)
def pqr_print(
    request: Request, db: DbDep, principal: QmsView, number: str, version: int | None = None
) -> Response:
    """The review as a printable report: every section, the conclusions and the signatures."""
    return _page(
        request,
        db,
        principal,
        number,
        version=version,
        template="qms/pqr_print.html",
        printable=True,
        comments_inline=True,
    )


@router.get("/pqr/{number}/pdf")
def pqr_as_pdf(db: DbDep, principal: QmsView, number: str, version: int | None = None) -> Response:
    """The review (or an earlier version by ``version``) as a PDF/A report to review and sign; the print is
    recorded in the audit trail (TJ-10.1.1.1)."""
    with UnitOfWork(db, principal.actor) as uow:
        pqr = service.get_pqr(uow.session, number, version)
        detail = service.pqr_detail(uow.session, pqr)
        data = pqr_pdf.render_pdf(detail, labels=LABELS, printed_by=principal.full_name, printed_at=clock.now(),
                                  translate=i18n.translate)  # fmt: skip
        uow.record("qms.pqr.pdf", "qms_pqr", pqr.id,
                   changes={"number": [None, pqr.number], "version": [None, pqr.version],
                            "content_sm3": [None, pqr.content_sm3]},
                   reason=f"product quality review {pqr.number} v{pqr.version} output as pdf")  # fmt: skip
        uow.commit()
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="{detail.number}-v{detail.version}.pdf"'})  # fmt: skip


def _act(request: Request, db: DbDep, principal: Principal, number: str, form: str, write: Any,
         reason: str | None = None, data: dict[str, Any] | None = None) -> Response:  # fmt: skip
    return act(db, principal, write, done=_url(number) + saved(), reason=reason, data=data,
               rerender=lambda status, **values: _page(request, db, principal, number, status, form=form, **values))  # fmt: skip


def _step(request: Request, db: DbDep, principal: Principal, number: str, form: str, schema: Any,
          values: dict[str, Any], data: dict[str, Any], write: Any) -> Response:  # fmt: skip
    """Validate a step's form, then write it; bad input re-renders the page with 422 and nothing written."""
    return submit(db, principal, schema, values, write=write, done=_url(number) + saved(),
                  reason=lambda body: getattr(body, "reason", None),
                  shown={k: v for k, v in data.items() if k != "password"},
                  rerender=lambda status, **shown: _page(request, db, principal, number, status, form=form, **shown))  # fmt: skip


@router.post("/pqr/{number}/review", response_class=HTMLResponse)
async def review(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    stable = str(data.get("process_stable", "")).strip()
    values: dict[str, Any] = {
        "comments": {s: str(data.get(f"comment_{s}", "")).strip() for s in SECTIONS},
        "process_stable": {"true": True, "false": False}.get(stable),
        "actions": str(data.get("actions", "")).strip(),
        "overall_conclusion": str(data.get("overall_conclusion", "")).strip(),
    }
    if str(data.get("reason", "")).strip():
        values["reason"] = str(data["reason"]).strip()
    return _step(request, db, principal, number, "review", PqrReview, values, data,
                 lambda uow, body: service.record_review(uow, principal, number, body))  # fmt: skip


@router.post("/pqr/{number}/recompile", response_class=HTMLResponse)
async def recompile(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    values = {k: str(data[k]).strip() for k in ("reason",) if str(data.get(k, "")).strip()}
    return _step(request, db, principal, number, "recompile", PqrRecompile, values, data,
                 lambda uow, body: service.recompile(uow, principal, number, body))  # fmt: skip


@router.post("/pqr/{number}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: QP, number: str) -> Response:
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in PqrApprove.model_fields and v != ""}
    return _step(request, db, principal, number, "approve", PqrApprove, values, data,
                 lambda uow, body: service.approve(uow, principal, number, body))  # fmt: skip
