"""Pages of reagents, reference standards, solutions and laboratory instruments (TJ-7.6, TJ-7.4): the
inventory (filter by state, expiring soon, scan a code), the receive form, reminders, a container's page with
its usage log, components, standardizations and audit trail and the forms that write them, the solution
preparation form and the instrument list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.lims import instruments
from pharmatrace.lims import reagents as service
from pharmatrace.lims.reagent_models import SolutionComponent
from pharmatrace.lims.reagent_schemas import (
    DestructionCreate,
    InvalidationCreate,
    IssueCreate,
    ReagentReceive,
    RetestCreate,
    ReturnCreate,
    SolutionPrepare,
    StandardizationCreate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render

router = APIRouter(prefix="/lims", include_in_schema=False)

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
ReagentManage = Annotated[Principal, Depends(Requires(service.MANAGE))]
ResultReview = Annotated[Principal, Depends(Requires(service.VERIFY))]

LABELS = {
    "kinds": service.KIND_LABELS,
    "states": service.STATE_LABELS,
    "log": service.LOG_LABELS,
    "roles": service.ROLE_LABELS,
    "due": service.DUE_LABELS,
    "meanings": MEANINGS,
}
COMPONENT_ROWS = 5  # blank rows of the preparation form
RESULT_FIELDS = 6  # replicate inputs of the standardization form (at least 3 are needed)
IN_STOCK = ("in_use", "awaiting_standardization", "retest_due", "expired")


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    return render(
        request, template, status_code=status_code, labels=LABELS, translate=i18n.translate, **values
    )


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


# --- inventory -----------------------------------------------------------------------------------------


@router.get("/reagents", response_class=HTMLResponse)
def inventory(
    request: Request,
    db: DbDep,
    _: LimsView,
    q: str = "",
    kind: str = "",
    state: str = "",
    expiring: str = "",
    done: int = 0,
) -> Response:
    """The inventory: counts by state, filters, and a scanned code opens its container."""
    days = int(expiring) if expiring.isdigit() else None
    with db.sessions() as session:
        if q.strip():
            code = service.clean_code(q)
            if any(r.code == code for r, _c in service.list_reagents(session, text=code)):
                return RedirectResponse(f"/lims/reagents/{code}", status_code=303)
        every = service.list_reagents(session, kind=kind, text=q)
        rows = service.list_reagents(session, kind=kind, state=state, text=q, expiring_days=days)
    counts = {name: sum(1 for _r, c in every if c.state == name) for name in service.STATE_LABELS}
    flash = i18n.translate(N_("Received: {count} containers"), count=done) if done else None
    return _render(request, "lims/reagent_list.html", rows=rows, counts=counts, q=q, kind=kind, state=state,
                   expiring=expiring, flash=flash)  # fmt: skip


@router.get("/reagents/receive", response_class=HTMLResponse)
def receive_page(request: Request, principal: ReagentManage) -> Response:
    return _render(request, "lims/reagent_receive.html", data={"kind": "reagent", "containers": "1"})


@router.post("/reagents", response_class=HTMLResponse)
async def receive(request: Request, db: DbDep, principal: ReagentManage) -> Response:
    data = await form_data(request)
    return submit(
        db, principal, ReagentReceive, data,
        write=lambda uow, body: service.receive(uow, body),
        rerender=lambda status, **values: _render(request, "lims/reagent_receive.html", status, **values),
        done=_received,
    )  # fmt: skip


def _received(made: object) -> str:
    assert isinstance(made, list)
    assert made
    if len(made) == 1:
        return f"/lims/reagents/{made[0].code}?done=1"
    return f"/lims/reagents?q={made[0].lot_no}&done={len(made)}"


@router.get("/reagents/reminders", response_class=HTMLResponse)
def reminders_page(request: Request, db: DbDep, _: LimsView, days: int = 30) -> Response:
    """Expiry and retest reminders (TJ-7.6): due within ``days`` or overdue and still in the inventory."""
    days = max(0, min(days, 3650))
    with db.sessions() as session:
        due = service.reminders(session, days)
    return _render(request, "lims/reagent_reminders.html", reminders=due, days=days)


# --- one container ---------------------------------------------------------------------------------------


def _detail_page(
    request: Request, db: DbDep, principal: Principal, code: str, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        reagent = service.find(session, code)
        detail = service.detail(session, reagent, i18n.translate)
        signatures = {
            row.id: esign.manifestations(session, service.SIGNED_TYPE, str(row.id))
            for row in detail.standardizations
        }
        ask_login = first_signature_pending(session, principal)
        log_ids = [e.id for e in detail.log]
        component_ids = list(
            session.scalars(select(SolutionComponent.id).where(SolutionComponent.solution_id == reagent.id))
        )
        trail = trail_of(session, [("lims_reagent", [reagent.id]), ("lims_reagent_log_entry", log_ids),
                                   ("lims_solution_component", component_ids),
                                   ("lims_standardization", [r.id for r in detail.standardizations])])  # fmt: skip
    open_issues = [e for e in detail.log if e.kind == "issue" and not e.returned]
    verified = next(
        (r for r in reversed(detail.standardizations) if r.role == "verification" and r.accepted), None
    )
    primary = next((r for r in reversed(detail.standardizations) if r.role == "primary" and r.accepted), None)
    return _render(request, "lims/reagent_detail.html", status_code, reagent=detail, signatures=signatures,
                   ask_login=ask_login, trail=trail, open_issues=open_issues, verified=verified, primary=primary,
                   result_fields=RESULT_FIELDS, **values)  # fmt: skip


@router.get("/reagents/{code}", response_class=HTMLResponse)
def detail_page(request: Request, db: DbDep, principal: LimsView, code: str, done: int = 0) -> Response:
    return _detail_page(request, db, principal, code, flash=_saved(done))


def _write(
    request: Request, db: DbDep, principal: Principal, code: str, schema: Any, data: dict[str, Any], form: str,
    write: Any,
) -> Response:  # fmt: skip
    return submit(
        db, principal, schema, data, write=write,
        rerender=lambda status, **values: _detail_page(request, db, principal, code, status, form=form, **values),
        done=f"/lims/reagents/{service.clean_code(code)}?done=1",
    )  # fmt: skip


@router.post("/reagents/{code}/issues", response_class=HTMLResponse)
async def issue(request: Request, db: DbDep, principal: ReagentManage, code: str) -> Response:
    return _write(request, db, principal, code, IssueCreate, await form_data(request), "issue",
                  lambda uow, body: service.issue(uow, code, body))  # fmt: skip


@router.post("/reagents/{code}/returns", response_class=HTMLResponse)
async def record_return(request: Request, db: DbDep, principal: ReagentManage, code: str) -> Response:
    return _write(request, db, principal, code, ReturnCreate, await form_data(request), "return",
                  lambda uow, body: service.record_return(uow, code, body))  # fmt: skip


@router.post("/reagents/{code}/retests", response_class=HTMLResponse)
async def record_retest(request: Request, db: DbDep, principal: ReagentManage, code: str) -> Response:
    return _write(request, db, principal, code, RetestCreate, await form_data(request), "retest",
                  lambda uow, body: service.record_retest(uow, code, body))  # fmt: skip


@router.post("/reagents/{code}/invalidation", response_class=HTMLResponse)
async def invalidate(request: Request, db: DbDep, principal: ReagentManage, code: str) -> Response:
    return _write(request, db, principal, code, InvalidationCreate, await form_data(request), "invalidate",
                  lambda uow, body: service.invalidate(uow, code, body))  # fmt: skip


@router.post("/reagents/{code}/destruction", response_class=HTMLResponse)
async def destroy(request: Request, db: DbDep, principal: ReagentManage, code: str) -> Response:
    return _write(request, db, principal, code, DestructionCreate, await form_data(request), "destroy",
                  lambda uow, body: service.destroy(uow, code, body))  # fmt: skip


def _round_data(raw: dict[str, Any]) -> dict[str, Any]:
    results = [str(raw.get(f"result_{n}", "")).strip() for n in range(1, RESULT_FIELDS + 1)]
    data: dict[str, Any] = {"results": [r for r in results if r], "method": raw.get("method", ""),
                            "password": raw.get("password", "")}  # fmt: skip
    for key in ("standard_code", "login"):
        if str(raw.get(key, "")).strip():
            data[key] = raw[key]
    return data


@router.post("/solutions/{code}/standardizations", response_class=HTMLResponse)
async def standardize(request: Request, db: DbDep, principal: ReagentManage, code: str) -> Response:
    raw = await form_data(request)
    return submit(
        db, principal, StandardizationCreate, _round_data(raw),
        write=lambda uow, body: service.standardize(uow, principal, code, body),
        rerender=lambda status, **values: _detail_page(request, db, principal, code, status, form="standardize",
                                                       **{**values, "data": raw}),
        done=f"/lims/reagents/{service.clean_code(code)}?done=1",
    )  # fmt: skip


@router.post("/solutions/{code}/verifications", response_class=HTMLResponse)
async def verify(request: Request, db: DbDep, principal: ResultReview, code: str) -> Response:
    raw = await form_data(request)
    return submit(
        db, principal, StandardizationCreate, _round_data(raw),
        write=lambda uow, body: service.verify_standardization(uow, principal, code, body),
        rerender=lambda status, **values: _detail_page(request, db, principal, code, status, form="verify",
                                                       **{**values, "data": raw}),
        done=f"/lims/reagents/{service.clean_code(code)}?done=1",
    )  # fmt: skip


# --- solutions -------------------------------------------------------------------------------------------


@router.get("/solutions", response_class=HTMLResponse)
def solutions(request: Request, db: DbDep, _: LimsView, state: str = "") -> Response:
    with db.sessions() as session:
        rows = service.list_reagents(session, prepared=True, state=state)
    return _render(request, "lims/reagent_solutions.html", rows=rows, state=state)


def _prepare_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        usable = [r for r, c in service.list_reagents(session) if c.usable]
    values.setdefault("data", {"kind": "solution", "unit": "mL"})
    return _render(request, "lims/reagent_prepare.html", status_code, usable=usable, rows=COMPONENT_ROWS,
                   **values)  # fmt: skip


@router.get("/solutions/new", response_class=HTMLResponse)
def prepare_page(request: Request, db: DbDep, _: ReagentManage) -> Response:
    return _prepare_page(request, db)


def _preparation_data(raw: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in raw.items() if not k.startswith("component_")}
    components = []
    for n in range(1, COMPONENT_ROWS + 1):
        code = str(raw.get(f"component_code_{n}", "")).strip()
        quantity = str(raw.get(f"component_quantity_{n}", "")).strip()
        if code or quantity:
            components.append(
                {"code": code, "quantity": quantity, "unit": raw.get(f"component_unit_{n}", "")}
            )
    data["components"] = components
    return data


@router.post("/solutions", response_class=HTMLResponse)
async def prepare(request: Request, db: DbDep, principal: ReagentManage) -> Response:
    raw = await form_data(request)
    return submit(
        db, principal, SolutionPrepare, _preparation_data(raw),
        write=lambda uow, body: service.prepare_solution(uow, body),
        rerender=lambda status, **values: _prepare_page(request, db, status, **{**values, "data": raw}),
        done=lambda solution: f"/lims/reagents/{getattr(solution, 'code', '')}?done=1",
    )  # fmt: skip


# --- instruments -----------------------------------------------------------------------------------------


@router.get("/instruments", response_class=HTMLResponse)
def instruments_page(request: Request, db: DbDep, _: LimsView) -> Response:
    """The laboratory instruments with their calibration status and validity (from the equipment register)."""
    with db.sessions() as session:
        rows = [
            instruments.instrument_public(session, e, i18n.translate)
            for e in instruments.lab_instruments(session)
        ]
    return _render(request, "lims/reagent_instruments.html", rows=rows)
