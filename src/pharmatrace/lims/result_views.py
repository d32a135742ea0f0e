"""Pages: test orders, a test with every result version, result entry (tablet-friendly, with instrument files),
review with signature, the analyst's worklist and the reviewer's (TJ-7.3, TJ-7.4, TJ-7.7, TJ-10.1.3.4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit_trail.service import trail_of
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.identity.service import Principal, principal_of
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import instrument_files, instruments, reagents, results, samples, specs
from pharmatrace.lims.result_models import LabTest
from pharmatrace.lims.result_schemas import (
    OotReevaluate,
    OrderVoid,
    ResultEntry,
    ResultRevision,
    RetestEntry,
    ReviewDecision,
    TestAssign,
    TestOrderCreate,
)
from pharmatrace.lims.sample_models import Sample
from pharmatrace.lims.specs_models import SpecificationVersion
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/lims", include_in_schema=False)

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
ResultEnter = Annotated[Principal, Depends(Requires("lims.result.enter"))]
ResultReviewer = Annotated[Principal, Depends(Requires("lims.result.review"))]

BEIJING = ZoneInfo("Asia/Shanghai")
FILE_SLOTS = ("1", "2")
# The form of each way of entering a result and the service function that takes it.
ENTRY_KINDS: dict[str, tuple[type[ResultEntry], Any]] = {
    "entry": (ResultEntry, results.enter_result),
    "correction": (ResultRevision, results.correct_result),
    "reprocess": (ResultRevision, results.reprocess_result),
    "retest": (RetestEntry, results.retest),
}
LABELS = {
    "order_states": results.ORDER_STATE_LABELS,
    "test_states": results.TEST_STATE_LABELS,
    "sources": results.SOURCE_LABELS,
    "kinds": results.KIND_LABELS,
    "verdicts": results.VERDICT_LABELS,
    "decisions": results.DECISION_LABELS,
    "formats": instrument_files.FORMAT_LABELS,
    "meanings": MEANINGS,
    "limits": specs.LIMIT_LABELS,
    "rounding": specs.ROUNDING_LABELS,
}


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("field_errors", {})
    values.setdefault("form", "")
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _saved(done: int) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


def _testtrail_of(session: Session, test: LabTest) -> list[tuple[str, list[int]]]:
    found = list(test.results)
    return [
        ("lims_test", [test.id]),
        ("lims_result", [r.id for r in found]),
        ("lims_result_raw", [raw.id for r in found for raw in r.raws]),
        ("lims_result_reagent", [u.id for r in found for u in r.reagents]),
        ("lims_result_review", [v.id for r in found for v in r.reviews]),
        ("lims_oot_evaluation", [e.id for r in found for e in r.oot_evaluations]),
        ("lims_result_file", [f.id for f in results.files_of(session, test.id)]),
        ("lims_oos_case", [c.id for c in test.oos_cases]),
    ]


def _analysts(session: Session) -> list[User]:
    """Active users who may enter results (for assignment)."""
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.login))
    return [u for u in users if principal_of(u).can(results.ENTER)]


# --- test orders -------------------------------------------------------------------------------------------


def _orderable(session: Session) -> tuple[list[Sample], list[SpecificationVersion]]:
    """Samples a test may be ordered for (test and stability samples not disposed of), and effective specs."""
    found = session.scalars(
        select(Sample).where(Sample.kind.in_(results.TESTABLE_KINDS)).order_by(Sample.id.desc()).limit(200)
    ).unique()
    testable = [s for s in found if samples.state_of(s) not in results.SPENT_STATES]
    versions = session.scalars(
        select(SpecificationVersion).where(SpecificationVersion.status == "approved")
    ).unique()
    return testable, sorted(versions, key=lambda v: v.specification.code)


def _orders_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    state = values.pop("state", "")
    q = values.pop("q", "")
    with db.sessions() as session:
        rows = [results.order_public(o) for o in results.list_orders(session, state=state, text=q)]
        testable, versions = _orderable(session)
        analysts = [(u.login, u.full_name) for u in _analysts(session)]
    return _render(request, "lims/result_orders.html", status_code, rows=rows, state=state, q=q,
                   states=results.ORDER_STATES, testable=testable, versions=versions, analysts=analysts,
                   **values)  # fmt: skip


@router.get("/orders", response_class=HTMLResponse)
def orders_page(
    request: Request, db: DbDep, _: LimsView, state: str = "", q: str = "", sample: str = ""
) -> Response:
    """Test orders by state, a search, and (for analysts) the form to order a sample's tests."""
    data = {"sample_code": sample.strip().upper()} if sample.strip() else {}
    return _orders_page(request, db, state=state if state in results.ORDER_STATES else "", q=q, data=data)


@router.post("/orders", response_class=HTMLResponse)
async def order_create(request: Request, db: DbDep, principal: ResultEnter) -> Response:
    data = await form_data(request)
    payload = {k: v for k, v in data.items() if k in TestOrderCreate.model_fields}
    if payload.get("spec_code") == "":
        payload.pop("spec_code")
    return submit(db, principal, TestOrderCreate, payload,
                  write=lambda uow, body: results.create_order(uow, principal, body),
                  rerender=lambda status, **values: _orders_page(request, db, status, form="create", **values),
                  done=lambda order: f"/lims/orders/{quote(getattr(order, 'code', ''))}?done=1")  # fmt: skip


def _order_page(request: Request, db: DbDep, code: str, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        order = results.order_by_code(session, code)
        detail = results.order_detail(session, order)
        cases = [results.oos_public(session, c) for t in order.tests for c in t.oos_cases]
        tests = [results.test_detail(session, t) for t in order.tests]
        pairs: list[tuple[str, list[int]]] = [("lims_test_order", [order.id])]
        for test in order.tests:
            pairs += _testtrail_of(session, test)
        trail = trail_of(session, pairs)
    return _render(request, "lims/result_order.html", status_code, order=detail, cases=cases, tests=tests,
                   trail=trail, **values)  # fmt: skip


@router.get("/orders/{code}", response_class=HTMLResponse)
def order_page(request: Request, db: DbDep, _: LimsView, code: str, done: int = 0) -> Response:
    """A test order: its tests with their latest result and state, its OOS cases, its audit trail."""
    return _order_page(request, db, code, flash=_saved(done))


@router.post("/orders/{code}/void", response_class=HTMLResponse)
async def order_void(request: Request, db: DbDep, principal: ResultEnter, code: str) -> Response:
    with db.sessions() as session:
        order_id = results.order_by_code(session, code).id
    return submit(db, principal, OrderVoid, await form_data(request), reason=lambda body: body.reason,
                  write=lambda uow, body: results.void_order(uow, principal, order_id, body.reason),
                  rerender=lambda status, **values: _order_page(request, db, code, status, form="void", **values),
                  done=f"/lims/orders/{quote(code)}?done=1")  # fmt: skip


# --- one test: its results, files, review -------------------------------------------------------------------


def _test_page(request: Request, db: DbDep, principal: Principal, test_id: int, status_code: int = 200,
               **values: Any) -> Response:  # fmt: skip
    with db.sessions() as session:
        test = results.get_test(session, test_id)
        detail = results.test_detail(session, test)
        item = specs.item_public(results.item_of(session, test))
        order = results.order_public(test.order)
        rows = results.files_of(session, test.id)
        intact = {f.id: results.file_intact(db, f) for f in rows}
        findings = {r.id: results.translated_findings(r.oot_findings, i18n.translate) for r in detail.results}
        for r in detail.results:  # each re-evaluation's findings too, as the reader reads them
            findings.update({-e.id: results.translated_findings(e.oot_findings, i18n.translate)
                             for e in r.oot_evaluations})  # fmt: skip
        now = clock.now()
        lab = [
            (e.code, e.name, not instruments.refusals(session, e, now))
            for e in instruments.lab_instruments(session)
        ]
        in_use = [(r.code, r.name, r.lot_no) for r, c in reagents.list_reagents(session, state="in_use")]
        analysts = (
            [(u.login, u.full_name) for u in _analysts(session)] if principal.can(results.ENTER) else []
        )
        case = results.open_case(test)
        trail = trail_of(session, _testtrail_of(session, test))
        ask_login = first_signature_pending(session, principal)
    return _render(request, "lims/result_test.html", status_code, test=detail, item=item, order=order,
                   intact=intact, findings=findings, instruments=lab, in_use=in_use, analysts=analysts,
                   open_case=case.code if case else "", trail=trail, ask_login=ask_login,
                   slots=FILE_SLOTS, **values)  # fmt: skip


@router.get("/tests/{test_id}", response_class=HTMLResponse)
def lab_test_page(request: Request, db: DbDep, principal: LimsView, test_id: int, done: int = 0) -> Response:
    """A test: the item's method, limit and formula; every result version with its raw values, files,
    instrument, reagents and reviews; the entry and review forms open to the reader now."""
    return _test_page(request, db, principal, test_id, flash=_saved(done))


def _tested_at(text: str) -> str | None:
    """A ``datetime-local`` value (Beijing time) as an aware ISO time; empty: now."""
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=BEIJING).isoformat()
    except ValueError:
        return text


def _entry_payload(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """The form's fields as the entry schema takes them: ``raw_<name>`` inputs, checked and scanned reagents."""
    payload: dict[str, Any] = {
        "raws": {k[4:]: v for k, v in data.items() if k.startswith("raw_") and str(v).strip()},
        "reagent_codes": [*data.get("reagents", []),
                          *[c for c in str(data.get("reagent_scan", "")).replace(",", " ").split() if c]],
    }  # fmt: skip
    for key in ("value", "answer", "text", "instrument_code", "processing", "comment"):
        if str(data.get(key, "")).strip():
            payload[key] = data[key]
    tested = _tested_at(str(data.get("tested_at", "")))
    if tested:
        payload["tested_at"] = tested
    if kind != "entry":
        payload["reason"] = data.get("reason", "")
    if kind == "retest" and str(data.get("oos_case", "")).strip():
        payload["oos_case"] = data["oos_case"]
    payload["reagent_codes"] = list(dict.fromkeys(payload["reagent_codes"]))
    return payload


@router.post("/tests/{test_id}/enter", response_class=HTMLResponse)
async def lab_test_enter(request: Request, db: DbDep, principal: ResultEnter, test_id: int) -> Response:
    """A result, a correction, a reprocessing or a retest, with the instrument files it was read from."""
    form = await request.form()
    data = await form_data(request, lists=("reagents",))
    kind = str(data.get("kind", "entry"))
    if kind not in ENTRY_KINDS:
        kind = "entry"
    schema, write = ENTRY_KINDS[kind]
    uploads: list[tuple[bytes, str, str]] = []
    for slot in FILE_SLOTS:
        upload = form.get(f"file{slot}")
        if isinstance(upload, UploadFile) and upload.filename:
            uploads.append((await upload.read(instrument_files.MAX_BYTES + 1), upload.filename,
                            str(data.get(f"format{slot}", ""))))  # fmt: skip
    shown = {k: v for k, v in data.items() if not k.startswith("file")}
    body, errors = validate(schema, _entry_payload(data, kind))
    if body is None:
        return _test_page(request, db, principal, test_id, 422, data=shown, field_errors=errors, form=kind,
                          error=next(iter(errors.values()), None))  # fmt: skip
    reason = getattr(body, "reason", None)
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            ids = [results.attach_file(uow, principal, test_id, raw, name, fmt, peak=str(data.get("peak", ""))).id
                   for raw, name, fmt in uploads]  # fmt: skip
            if ids:
                body = body.model_copy(update={"file_ids": [*body.file_ids, *ids]})
            uow.reason = reason
            write(uow, principal, test_id, body)
            uow.commit()
    except PharmaTraceError as error:
        return _test_page(request, db, principal, test_id, error.http_status, data=shown, form=kind,
                          error=i18n.error_message(error))  # fmt: skip
    return RedirectResponse(f"/lims/tests/{test_id}?done=1", status_code=303)


@router.post("/tests/{test_id}/assign", response_class=HTMLResponse)
async def lab_test_assign(request: Request, db: DbDep, principal: ResultEnter, test_id: int) -> Response:
    return submit(db, principal, TestAssign, await form_data(request),
                  write=lambda uow, body: results.assign(uow, principal, test_id, body.analyst),
                  rerender=lambda status, **values: _test_page(request, db, principal, test_id, status, form="assign",
                                                               **values),
                  done=f"/lims/tests/{test_id}?done=1")  # fmt: skip


@router.post("/results/{result_id}/review", response_class=HTMLResponse)
async def result_review(request: Request, db: DbDep, principal: ResultReviewer, result_id: int) -> Response:
    """The reviewer's signed decision on the latest result version of a test."""
    with db.sessions() as session:
        test_id = results.get_result(session, result_id).test_id
    data = await form_data(request)
    payload = {k: v for k, v in data.items() if k in ReviewDecision.model_fields and v != ""}
    return submit(db, principal, ReviewDecision, payload,
                  write=lambda uow, body: results.review(uow, principal, result_id, body),
                  rerender=lambda status, **values: _test_page(request, db, principal, test_id, status, form="review",
                                                               **values),
                  done=f"/lims/tests/{test_id}?done=1")  # fmt: skip


@router.post("/results/{result_id}/oot", response_class=HTMLResponse)
async def result_reevaluate_oot(
    request: Request, db: DbDep, principal: ResultReviewer, result_id: int
) -> Response:
    """The reviewer's re-evaluation of the out-of-trend flag of a result awaiting review (TJ-7.7)."""
    with db.sessions() as session:
        test_id = results.get_result(session, result_id).test_id
    return submit(db, principal, OotReevaluate, await form_data(request),
                  write=lambda uow, body: results.reevaluate_result(uow, principal, result_id, body.reason),
                  rerender=lambda status, **values: _test_page(request, db, principal, test_id, status, form="oot",
                                                               **values),
                  done=f"/lims/tests/{test_id}?done=1")  # fmt: skip


@router.get("/files/{file_id}")
def file_download(db: DbDep, _: LimsView, file_id: int) -> Response:
    """The kept instrument file, hashed again before it is served (a changed one is refused)."""
    with db.sessions() as session:
        row = results.get_file(session, file_id)
        name, sm3 = row.file_name, row.sm3
    data = instrument_files.open_file(db, sm3)
    disposition = f"attachment; filename=\"{sm3[:16]}.csv\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type="text/csv; charset=utf-8", headers={"content-disposition": disposition})


# --- worklists ---------------------------------------------------------------------------------------------


def _rows(session: Session, tests: list[LabTest]) -> list[tuple[Any, Any]]:
    return [(results.order_public(t.order), results.test_public(session, t)) for t in tests]


@router.get("/worklist", response_class=HTMLResponse)
def worklist_page(request: Request, db: DbDep, principal: ResultEnter) -> Response:
    """The analyst's open tests (to be tested, or returned by the reviewer), and tests nobody has taken yet."""
    with db.sessions() as session:
        mine, free = results.worklist(session, principal.login)
        mine_rows, free_rows = _rows(session, mine), _rows(session, free)
    return _render(request, "lims/worklist.html", mine=mine_rows, free=free_rows)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, db: DbDep, principal: ResultReviewer) -> Response:
    """Results waiting for the second person's review (never one's own), and the open OOS cases."""
    with db.sessions() as session:
        queue = results.review_queue(session)
        rows = [(order, test, principal.login in {r.entered_by for r in t.results})
                for t, (order, test) in zip(queue, _rows(session, queue), strict=True)]  # fmt: skip
        cases = [results.oos_public(session, c) for c in results.list_oos(session, status="open")]
    return _render(request, "lims/worklist_review.html", rows=rows, cases=cases)
