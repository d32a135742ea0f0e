"""Pages: the stability dashboard (studies, pull points due and overdue, shelf-life estimates), a study's page
(protocol, schedule, placements, pulls, trend charts with the ICH Q1E estimate, approval, audit trail, the forms of
its lifecycle) and the protocol editor (SH-6.2.3, TJ-7.7). Plain forms, usable on a tablet."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import stability, stability_charts
from pharmatrace.lims.stability_models import STATUS_LABELS, STUDY_TYPE_LABELS, StabilityStudy
from pharmatrace.lims.stability_schemas import PlacementCreate, PullCreate, StudyCreate, StudyUpdate
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, saved, submit, validate
from pharmatrace.web.templating import render
from pharmatrace.wms.models import Material

router = APIRouter(prefix="/lims", include_in_schema=False)

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
Author = Annotated[Principal, Depends(Requires("lims.spec.author"))]
Approver = Annotated[Principal, Depends(Requires("lims.spec.approve"))]
Handler = Annotated[Principal, Depends(Requires("lims.sample.manage"))]

POINT_LABELS = {
    "pulled": N_("Pulled"),
    "partly_pulled": N_("Partly pulled"),
    "overdue": N_("Overdue"),
    "due": N_("Due now"),
    "upcoming": N_("Upcoming"),
}
MODEL_LABELS = {
    "single": N_("One batch"),
    "pooled": N_("Batches pooled (slopes and intercepts equal)"),
    "common_slope": N_("Common slope, each batch's intercept"),
    "separate": N_("Each batch on its own (slopes differ)"),
}
SIDE_LABELS = {
    "lower": N_("lower one-sided bound"),
    "upper": N_("upper one-sided bound"),
    "both": N_("two-sided bounds"),
}
LIMITED_LABELS = {
    "data": N_("where the bound meets the criterion"),
    "extrapolation": N_("by the extrapolation limit"),
}
LABELS = {
    "status": STATUS_LABELS,
    "types": STUDY_TYPE_LABELS,
    "points": POINT_LABELS,
    "models": MODEL_LABELS,
    "sides": SIDE_LABELS,
    "limited": LIMITED_LABELS,
    "meanings": MEANINGS,
}
CONDITIONS = (
    "25 °C ± 2 °C / 60 % RH ± 5 % RH",
    "30 °C ± 2 °C / 65 % RH ± 5 % RH",
    "40 °C ± 2 °C / 75 % RH ± 5 % RH",
    "5 °C ± 3 °C",
)
SEPARATORS = re.compile(r"[\s,，、;；]+")


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _url(code: str) -> str:
    return f"/lims/stability/{quote(code)}"


def _words() -> dict[str, str]:
    return {
        "months": i18n.gettext(N_("Months on study")),
        "shelf_life": i18n.gettext(N_("Shelf life (months)")),
        "no_data": i18n.gettext(N_("No reviewed results yet")),
    }


def _trail(session: Session, study: StabilityStudy) -> list[AuditEntry]:
    pairs = [
        ("lims_stability_study", [study.id]),
        ("lims_stability_approval", [a.id for a in study.approvals]),
        ("lims_stability_placement", [p.id for p in study.placements]),
        ("lims_stability_pull", [p.id for p in study.pulls]),
    ]
    return trail_of(session, pairs)


# --- the dashboard ----------------------------------------------------------------------------------------


@router.get("/stability", response_class=HTMLResponse)
def dashboard(
    request: Request, db: DbDep, _: LimsView, q: str = "", status: str = "", days: int = 30
) -> Response:
    """Studies with their next pull point and shelf-life estimates; pull points due and overdue."""
    days = max(0, min(days, 365))
    with db.sessions() as session:
        studies = stability.list_studies(session, status=status, text=q)
        rows = [
            (
                stability.study_public(session, s),
                stability.trends(session, s) if s.status == "approved" else [],
            )
            for s in studies
        ]
        due = stability.due_points(session, days=days)
    return _render(request, "lims/stability.html", rows=rows, due=due, q=q, status=status, days=days)


# --- the protocol form ------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _protocol(data: dict[str, Any]) -> dict[str, Any]:
    """The form's text fields as the schema takes them (lists split, blanks left out)."""
    values = {k: v for k, v in data.items() if k not in ("attributes", "pull_months", "batches")}
    values["attributes"] = _lines(str(data.get("attributes", "")))
    values["pull_months"] = [m for m in SEPARATORS.split(str(data.get("pull_months", ""))) if m]
    values["batches"] = [b.upper() for b in SEPARATORS.split(str(data.get("batches", ""))) if b]
    for key in ("spec_version", "protocol_document", "reason"):
        if str(values.get(key, "")).strip() == "":
            values.pop(key, None)
    return values


def _form_values(study: StabilityStudy) -> dict[str, str]:
    """A stored protocol as the editor's form shows it (text)."""
    body = stability.protocol_in(study)
    return {
        "title": body.title, "material_code": body.material_code, "study_type": body.study_type,
        "condition": body.condition, "chamber_code": body.chamber_code, "spec_code": body.spec_code,
        "spec_version": str(body.spec_version or ""), "attributes": "\n".join(body.attributes),
        "pull_months": ", ".join(str(m) for m in body.pull_months), "window_days": str(body.window_days),
        "start_date": body.start_date.isoformat(), "pull_quantity": plain_number(body.pull_quantity) or "",
        "batches": ", ".join(body.batches), "protocol_document": body.protocol_document or "",
    }  # fmt: skip


def _editor(request: Request, db: DbDep, status_code: int = 200, *, study: StabilityStudy | None = None,
            **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        materials = list(
            session.scalars(select(Material).where(Material.voided_at.is_(None)).order_by(Material.code))
        )
        specs = [
            (v.specification.code, v.version, v.title, [m.material_code for m in v.materials],
             [i.name for i in v.items if i.limit_type in stability.NUMERIC])
            for v in stability.shelf_life_specs(session)
        ]  # fmt: skip
        chambers = [(e.code, e.name) for e in stability.chambers(session)]
    return _render(request, "lims/stability_edit.html", status_code, study=study, materials=materials, specs=specs,
                   chambers=chambers, conditions=CONDITIONS, **values)  # fmt: skip


@router.get("/stability/new", response_class=HTMLResponse)
def new_page(request: Request, db: DbDep, _: Author) -> Response:
    return _editor(request, db, data={"window_days": "7", "study_type": "long_term",
                                      "pull_months": "0, 3, 6, 9, 12, 18, 24, 36"})  # fmt: skip


@router.post("/stability/new", response_class=HTMLResponse)
async def create(request: Request, db: DbDep, principal: Author) -> Response:
    data = await form_data(request)
    return submit(db, principal, StudyCreate, _protocol(data),
                  write=lambda uow, body: stability.create_study(uow, principal, body),
                  rerender=lambda status, **values: _editor(request, db, status, **{**values, "data": data}),
                  done=lambda study: _url(getattr(study, "code", "")) + saved())  # fmt: skip


@router.get("/stability/{code}/edit", response_class=HTMLResponse)
def edit_page(request: Request, db: DbDep, _: Author, code: str) -> Response:
    with db.sessions() as session:
        study = stability.get_study(session, code)
        if study.status != "draft":
            return RedirectResponse(_url(study.code), status_code=303)
        data = _form_values(study)
    return _editor(request, db, study=study, data=data)


@router.post("/stability/{code}/edit", response_class=HTMLResponse)
async def edit(request: Request, db: DbDep, principal: Author, code: str) -> Response:
    data = await form_data(request)
    with db.sessions() as session:
        study = stability.get_study(session, code)
    return submit(db, principal, StudyUpdate, _protocol(data), reason=lambda body: body.reason,
                  write=lambda uow, body: stability.update_study(uow, principal, code, body),
                  rerender=lambda status, **values: _editor(request, db, status, study=study,
                                                            **{**values, "data": data}),
                  done=_url(study.code) + saved())  # fmt: skip


# --- a study ----------------------------------------------------------------------------------------------


def _study_page(request: Request, db: DbDep, principal: Principal, code: str, status_code: int = 200,
                **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        study = stability.get_study(session, code)
        detail = stability.study_detail(session, study)
        found = stability.trends(session, study)
        words = _words()
        charts = {t.attribute: stability_charts.trend_svg(t, words) for t in found}
        authors = stability.authors(session, study)
        trail = _trail(session, study)
        ask_login = first_signature_pending(session, principal)
    return _render(request, "lims/stability_study.html", status_code, study=detail, trends=found, charts=charts,
                   authors=authors, trail=trail, ask_login=ask_login, **values)  # fmt: skip


@router.get("/stability/{code}", response_class=HTMLResponse)
def study_page(request: Request, db: DbDep, principal: LimsView, code: str) -> Response:
    return _study_page(request, db, principal, code)


def _act(request: Request, db: DbDep, principal: Principal, code: str, form: str, write: Any,
         reason: str | None = None, data: dict[str, Any] | None = None) -> Response:  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            write(uow)
            uow.commit()
    except PharmaTraceError as error:
        return _study_page(request, db, principal, code, error.http_status, error=i18n.error_message(error),
                           form=form, data=data or {})  # fmt: skip
    return RedirectResponse(_url(code) + saved(), status_code=303)


@router.post("/stability/{code}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: Approver, code: str) -> Response:
    data = await form_data(request)
    return _act(request, db, principal, code, "approve", lambda uow: stability.approve(
        uow, principal, code, password=str(data.get("password", "")), login=data.get("login") or None,
        comment=str(data.get("comment", ""))[:500]))  # fmt: skip


@router.post("/stability/{code}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, db: DbDep, principal: Approver, code: str) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    if len(reason) < 2:
        return _study_page(request, db, principal, code, 422, form="cancel",
                           error=i18n.gettext(N_("A reason is required for this change")))  # fmt: skip
    return _act(request, db, principal, code, "cancel", lambda uow: stability.cancel(uow, principal, code, reason),
                reason=reason[:500])  # fmt: skip


async def _checked(request: Request, db: DbDep, principal: Principal, code: str, form: str,
                   schema: Any) -> tuple[Any, dict[str, Any], Response | None]:  # fmt: skip
    data = await form_data(request)
    values = {k: v for k, v in data.items() if not (v == "" and k in ("sample_code", "analyst"))}
    body, errors = validate(schema, values)
    if body is None:
        page = _study_page(request, db, principal, code, 422, form=form, data=data, field_errors=errors,
                           error=next(iter(errors.values()), None))  # fmt: skip
        return None, data, page
    return body, data, None


@router.post("/stability/{code}/placements", response_class=HTMLResponse)
async def place(request: Request, db: DbDep, principal: Handler, code: str) -> Response:
    body, data, refused = await _checked(request, db, principal, code, "place", PlacementCreate)
    if refused is not None:
        return refused
    return _act(request, db, principal, code, "place", lambda uow: stability.place(uow, principal, code, body),
                data=data)  # fmt: skip


@router.post("/stability/{code}/pulls", response_class=HTMLResponse)
async def pull(request: Request, db: DbDep, principal: Handler, code: str) -> Response:
    body, data, refused = await _checked(request, db, principal, code, "pull", PullCreate)
    if refused is not None:
        return refused
    return _act(request, db, principal, code, "pull", lambda uow: stability.pull(uow, principal, code, body),
                data=data)  # fmt: skip
