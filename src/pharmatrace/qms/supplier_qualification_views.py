"""Pages: the supplier qualification list (filters by status, kind and risk class, and the panel of approved-supplier
list lines due for requalification), the new-qualification form (prefilled from the query: supplier, material,
kind), and a qualification's page (its header, the evidence documents with the forms to add and void them while a
draft, the linked audit, the trial lots, the supplier's performance over a period, submit, return, QA's approval by
signature, rejection, cancellation, the decisions and the audit trail) (SH-6.2.4, TJ-5.1, TJ-5.2.1.1)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.qms import audit_models, supplier_performance
from pharmatrace.qms import supplier_qualifications as service
from pharmatrace.qms.supplier_qualification_models import (
    DOCUMENT_LABELS,
    KIND_LABELS,
    RISK_LABELS,
    STATUS_LABELS,
    SupplierQualification,
)
from pharmatrace.qms.supplier_qualification_schemas import (
    DocumentCreate,
    QualificationApprove,
    QualificationCreate,
    QualificationUpdate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import act, form_data, saved, submit
from pharmatrace.web.templating import render
from pharmatrace.wms import service as wms

router = APIRouter(prefix="/qms", include_in_schema=False)

QmsView = Annotated[Principal, Depends(Requires("qms.view"))]
Manager = Annotated[Principal, Depends(Requires("qms.supplier.manage"))]

APPROVAL_LABELS = {"approved": N_("Approved"), "conditional": N_("Conditional")}
LABELS = {"status": STATUS_LABELS, "kinds": KIND_LABELS, "risks": RISK_LABELS, "documents": DOCUMENT_LABELS,
          "proposed": APPROVAL_LABELS, "meanings": MEANINGS, "audit_statuses": audit_models.STATUS_LABELS}  # fmt: skip
EVALUATION_FIELDS = ("kind", "description", "risk_class", "onsite_audit", "audit_number", "samples_tested",
                     "samples_conforming", "sample_notes", "proposed_status", "proposed_valid_until", "conclusion")  # fmt: skip
CREATE_FIELDS = ("supplier_code", "material_code", *EVALUATION_FIELDS)
DOCUMENT_FIELDS = tuple(DocumentCreate.model_fields)
BASE = "/qms/supplier-qualifications"


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("field_errors", {})
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _url(number: str) -> str:
    return f"{BASE}/{quote(number)}"


def _filled(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(data[k]).strip() for k in keys if str(data.get(k, "")).strip()}
    if "onsite_audit" in keys:
        values["onsite_audit"] = str(data.get("onsite_audit", "")) in ("on", "true", "1")
    return values


# --- the list ------------------------------------------------------------------------------------------------


@router.get("/supplier-qualifications", response_class=HTMLResponse)
def qualification_list(
    request: Request,
    db: DbDep,
    _: QmsView,
    q: str = "",
    status: str = "",
    kind: str = "",
    risk_class: str = "",
) -> Response:
    """Qualifications with their supplier, material, risk and state; and the lines due for requalification."""
    with db.sessions() as session:
        rows = [
            service.qualification_public(x)
            for x in service.list_qualifications(
                session, status=status, kind=kind, risk_class=risk_class, text=q
            )
        ]
        due = service.due_for_requalification(session)
    return _render(request, "qms/supplier_qualification_list.html", rows=rows, due=due, q=q, status=status,
                   kind=kind, risk_class=risk_class)  # fmt: skip


# --- a new qualification -------------------------------------------------------------------------------------


def _new(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        suppliers = wms.list_suppliers(session)
        materials = wms.list_materials(session)
        choices = {
            "suppliers": [(s.code, s.name) for s in suppliers],
            "materials": [(m.code, m.name, m.kind) for m in materials],
        }
    return _render(request, "qms/supplier_qualification_new.html", status_code, choices=choices, **values)


@router.get("/supplier-qualifications/new", response_class=HTMLResponse)
def new_page(
    request: Request, db: DbDep, _: Manager, supplier: str = "", material: str = "", kind: str = "new"
) -> Response:
    return _new(request, db, data={"supplier_code": supplier.upper(), "material_code": material.upper(),
                                   "kind": kind})  # fmt: skip


@router.post("/supplier-qualifications/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Manager) -> Response:
    data = await form_data(request)
    return submit(db, principal, QualificationCreate, _filled(data, CREATE_FIELDS),
                  write=lambda uow, body: service.create_qualification(uow, principal, body),
                  rerender=lambda status, **v: _new(request, db, status, **{**v, "data": data}),
                  done=lambda made: _url(getattr(made, "number", "")) + saved())  # fmt: skip


# --- a qualification -----------------------------------------------------------------------------------------


def _trail(session: Session, q: SupplierQualification) -> list[AuditEntry]:
    pairs = [
        ("qms_supplier_qualification", [q.id]),
        ("qms_supplier_qualification_document", [d.id for d in q.documents]),
        ("qms_supplier_qualification_decision", [d.id for d in q.decisions]),
    ]
    return trail_of(session, pairs)


def _days(request: Request) -> int:
    try:
        days = int(request.query_params.get("days", supplier_performance.DEFAULT_DAYS))
    except ValueError:
        return supplier_performance.DEFAULT_DAYS
    return min(max(days, supplier_performance.MIN_DAYS), supplier_performance.MAX_DAYS)


def _page(request: Request, db: DbDep, principal: Principal, number: str, status_code: int = 200,
          **values: Any) -> Response:  # fmt: skip
    days = _days(request)
    with db.sessions() as session:
        q = service.get_qualification(session, number)
        detail = service.qualification_detail(session, q)
        may = {
            name: service.allowed(session, principal, q, name)
            for name in ("submit", "return", "approve", "reject", "cancel")
        }
        trail = _trail(session, q)
        ask_login = first_signature_pending(session, principal)
        try:
            performance = service.performance_of(session, detail.supplier_code, days)
        except ValidationFailed:  # pragma: no cover - days is clamped above
            performance = None
    manage = principal.can(service.MANAGE_PERMISSION)
    may["edit"] = manage and detail.status == "draft"
    may["decide_form"] = (principal.can(service.QA_PERMISSION) and detail.status == "in_review"
                          and principal.login != detail.requester)  # fmt: skip
    return _render(request, "qms/supplier_qualification_detail.html", status_code, sq=detail, may=may,
                   trail=trail, ask_login=ask_login, performance=performance, days=days, **values)  # fmt: skip


@router.get("/supplier-qualifications/{number}", response_class=HTMLResponse)
def qualification_page(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    return _page(request, db, principal, number)


def _act(request: Request, db: DbDep, principal: Principal, number: str, form: str, write: Any,
         reason: str | None = None) -> Response:  # fmt: skip
    return act(db, principal, write, done=_url(number) + saved(), reason=reason,
               rerender=lambda status, **values: _page(request, db, principal, number, status, form=form, **values))  # fmt: skip


def _step(request: Request, db: DbDep, principal: Principal, number: str, form: str, schema: Any,
          values: dict[str, Any], data: dict[str, Any], write: Any) -> Response:  # fmt: skip
    """Validate a step's form, then write it; bad input re-renders the page with 422 and nothing written."""
    return submit(db, principal, schema, values, write=write, done=_url(number) + saved(),
                  shown={k: v for k, v in data.items() if k != "password"},
                  rerender=lambda status, **shown: _page(request, db, principal, number, status, form=form, **shown))  # fmt: skip


def _with_reason(request: Request, db: DbDep, principal: Principal, number: str, form: str,
                 data: dict[str, Any], write: Any) -> Response:  # fmt: skip
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _page(request, db, principal, number, 422, form=form,
                     error=i18n.gettext(N_("A reason is required for this change")))  # fmt: skip
    return _act(
        request, db, principal, number, form, lambda uow: write(uow, reason[:500]), reason=reason[:500]
    )


@router.post("/supplier-qualifications/{number}", response_class=HTMLResponse)
async def update(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "evaluation", QualificationUpdate,
                 _filled(data, EVALUATION_FIELDS), data,
                 lambda uow, body: service.update_qualification(uow, principal, number, body))  # fmt: skip


@router.post("/supplier-qualifications/{number}/documents", response_class=HTMLResponse)
async def add_document(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _step(request, db, principal, number, "add-document", DocumentCreate, _filled(data, DOCUMENT_FIELDS),
                 data, lambda uow, body: service.add_document(uow, principal, number, body))  # fmt: skip


@router.post("/supplier-qualifications/{number}/documents/{seq}/void", response_class=HTMLResponse)
async def void_document(request: Request, db: DbDep, principal: Manager, number: str, seq: int) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, f"void-{seq}", data,
                        lambda uow, reason: service.void_document(uow, principal, number, seq, reason))  # fmt: skip


@router.post("/supplier-qualifications/{number}/submit", response_class=HTMLResponse)
async def submit_for_review(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    return _act(request, db, principal, number, "submit", lambda uow: service.submit(uow, principal, number))


@router.post("/supplier-qualifications/{number}/return", response_class=HTMLResponse)
async def return_to_draft(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "return", data,
                        lambda uow, reason: service.return_to_draft(uow, principal, number, reason))  # fmt: skip


@router.post("/supplier-qualifications/{number}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    data = await form_data(request)
    values = {k: v for k, v in data.items() if k in QualificationApprove.model_fields and v != ""}
    return _step(request, db, principal, number, "approve", QualificationApprove, values, data,
                 lambda uow, body: service.approve(uow, principal, number, body))  # fmt: skip


@router.post("/supplier-qualifications/{number}/reject", response_class=HTMLResponse)
async def reject(request: Request, db: DbDep, principal: QmsView, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "reject", data,
                        lambda uow, reason: service.reject(uow, principal, number, reason))  # fmt: skip


@router.post("/supplier-qualifications/{number}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: Manager, number: str) -> Response:
    data = await form_data(request)
    return _with_reason(request, db, principal, number, "cancel", data,
                        lambda uow, reason: service.cancel(uow, principal, number, reason))  # fmt: skip
