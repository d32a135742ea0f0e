"""``/api/v1/lims``: test orders, tests, results and their versions, instrument files, review, OOS cases
(TJ-7.3, TJ-7.4, TJ-7.7, TJ-10.1.3.4). Reading needs ``lims.view``; analysts' writes ``lims.result.enter``;
the review ``lims.result.review``. File uploads are multipart; everything else is JSON."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.lims import instrument_files, results
from pharmatrace.lims.result_schemas import (
    FileFormat,
    FilePublic,
    HistoryPoint,
    OosCasePublic,
    OotReevaluate,
    OrderDetail,
    OrderPublic,
    OrderVoid,
    ResultEntry,
    ResultPublic,
    ResultRevision,
    RetestEntry,
    ReviewDecision,
    ReviewPublic,
    TestAssign,
    TestDetail,
    TestOrderCreate,
    TestPublic,
    WorklistPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(prefix="/lims", tags=["lims"])

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
ResultEnter = Annotated[Principal, Depends(Requires("lims.result.enter"))]
ResultReview = Annotated[Principal, Depends(Requires("lims.result.review"))]


# --- orders (TJ-7.4) ---------------------------------------------------------------------------------------


@router.get("/orders", response_model=list[OrderPublic])
def list_orders(db: DbDep, _: LimsView, state: str = "", q: str = "") -> list[OrderPublic]:
    with db.sessions() as session:
        return [results.order_public(o) for o in results.list_orders(session, state=state, text=q)]


@router.post("/orders", response_model=OrderDetail, status_code=201)
def create_order(body: TestOrderCreate, db: DbDep, principal: ResultEnter) -> OrderDetail:
    """A sample against an effective specification version: one test per test item."""
    with uow_for(db, principal) as uow:
        order = results.create_order(uow, principal, body)
        uow.commit()
        return results.order_detail(uow.session, order)


@router.get("/orders/{order_id}", response_model=OrderDetail)
def get_order(order_id: int, db: DbDep, _: LimsView) -> OrderDetail:
    with db.sessions() as session:
        return results.order_detail(session, results.get_order(session, order_id))


@router.post("/orders/{order_id}/void", response_model=OrderPublic)
def void_order(order_id: int, body: OrderVoid, db: DbDep, principal: ResultEnter) -> OrderPublic:
    with uow_for(db, principal, reason=body.reason) as uow:
        order = results.void_order(uow, principal, order_id, body.reason)
        uow.commit()
        return results.order_public(order)


# --- tests and their results (TJ-7.3, TJ-10.1.3.4) -------------------------------------------------------------


@router.get("/tests/{test_id}", response_model=TestDetail)
def get_test(test_id: int, db: DbDep, _: LimsView) -> TestDetail:
    """A test with every result version, raw value, file, instrument, reagent, review and OOS case."""
    with db.sessions() as session:
        return results.test_detail(session, results.get_test(session, test_id))


@router.post("/tests/{test_id}/assign", response_model=TestPublic)
def assign(test_id: int, body: TestAssign, db: DbDep, principal: ResultEnter) -> TestPublic:
    with uow_for(db, principal) as uow:
        test = results.assign(uow, principal, test_id, body.analyst)
        uow.commit()
        return results.test_public(uow.session, test)


@router.post("/tests/{test_id}/files", response_model=FilePublic, status_code=201)
async def attach_file(
    test_id: int,
    db: DbDep,
    principal: ResultEnter,
    file: Annotated[UploadFile, File(description="CSV export of a balance, a pH meter or an HPLC summary")],
    format: Annotated[FileFormat, Form()],
    peak: Annotated[str, Form(max_length=64)] = "",
) -> FilePublic:
    """Keep an instrument's export as raw data (SM3-addressed) and read its values; a result names it."""
    data = await file.read(instrument_files.MAX_BYTES + 1)
    with uow_for(db, principal) as uow:
        row = results.attach_file(
            uow, principal, test_id, data, file.filename or "data.csv", format, peak=peak
        )
        uow.commit()
        return results.file_public(row)


@router.get("/files/{file_id}")
def download_file(file_id: int, db: DbDep, _: LimsView) -> Response:
    """The kept file as it came, hashed again first: a changed or missing file is refused (409)."""
    with db.sessions() as session:
        row = results.get_file(session, file_id)
        name, sm3 = row.file_name, row.sm3
    data = instrument_files.open_file(db, sm3)
    disposition = f"attachment; filename=\"{sm3[:16]}.csv\"; filename*=UTF-8''{quote(name)}"
    return Response(data, media_type="text/csv", headers={"content-disposition": disposition, "x-sm3": sm3})


@router.post("/tests/{test_id}/results", response_model=ResultPublic, status_code=201)
def enter_result(test_id: int, body: ResultEntry, db: DbDep, principal: ResultEnter) -> ResultPublic:
    """The first result of a test: computed at full precision, rounded once, judged; a failing one opens an OOS."""
    with uow_for(db, principal) as uow:
        result = results.enter_result(uow, principal, test_id, body)
        uow.commit()
        return results.result_public(uow.session, result)


@router.post("/tests/{test_id}/corrections", response_model=ResultPublic, status_code=201)
def correct_result(test_id: int, body: ResultRevision, db: DbDep, principal: ResultEnter) -> ResultPublic:
    """A corrected version of the latest result, with the reason; the earlier versions stay."""
    with uow_for(db, principal, reason=body.reason) as uow:
        result = results.correct_result(uow, principal, test_id, body)
        uow.commit()
        return results.result_public(uow.session, result)


@router.post("/tests/{test_id}/reprocessing", response_model=ResultPublic, status_code=201)
def reprocess_result(test_id: int, body: ResultRevision, db: DbDep, principal: ResultEnter) -> ResultPublic:
    """Reprocessed raw data as a new version with its processing method and parameters (TJ-10.1.3.4)."""
    with uow_for(db, principal, reason=body.reason) as uow:
        result = results.reprocess_result(uow, principal, test_id, body)
        uow.commit()
        return results.result_public(uow.session, result)


@router.post("/tests/{test_id}/retests", response_model=ResultPublic, status_code=201)
def retest(test_id: int, body: RetestEntry, db: DbDep, principal: ResultEnter) -> ResultPublic:
    """A retest linked to the original result (an OOS result only within its investigation)."""
    with uow_for(db, principal, reason=body.reason) as uow:
        result = results.retest(uow, principal, test_id, body)
        uow.commit()
        return results.result_public(uow.session, result)


@router.get("/results/history", response_model=list[HistoryPoint])
def history(
    db: DbDep, _: LimsView, material: Annotated[str, Query(min_length=1)], item: Annotated[str, Query(min_length=1)],
    limit: Annotated[int, Query(ge=1, le=500)] = 30,
) -> list[HistoryPoint]:  # fmt: skip
    """The reviewed results of a test item for a material, oldest first (the trend history)."""
    with db.sessions() as session:
        return results.results_for(session, material_code=material, item_name=item, limit=limit)


@router.get("/results/{result_id}", response_model=ResultPublic)
def get_result(result_id: int, db: DbDep, _: LimsView) -> ResultPublic:
    with db.sessions() as session:
        return results.result_public(session, results.get_result(session, result_id))


@router.post("/results/{result_id}/review", response_model=ReviewPublic, status_code=201)
def review(result_id: int, body: ReviewDecision, db: DbDep, principal: ResultReview) -> ReviewPublic:
    """The second person's signed decision: approved, or returned with the reason (never one's own results)."""
    with uow_for(db, principal) as uow:
        row = results.review(uow, principal, result_id, body)
        uow.commit()
        return results.review_public(uow.session, row)


@router.post("/results/{result_id}/oot", response_model=ResultPublic)
def reevaluate_oot(result_id: int, body: OotReevaluate, db: DbDep, principal: ResultReview) -> ResultPublic:
    """The reviewer's re-evaluation of the out-of-trend flag of a result awaiting review (TJ-7.7), recorded."""
    with uow_for(db, principal) as uow:
        results.reevaluate_result(uow, principal, result_id, body.reason)
        uow.commit()
        return results.result_public(uow.session, results.get_result(uow.session, result_id))


# --- worklists and OOS (TJ-7.7) --------------------------------------------------------------------------


@router.get("/worklist", response_model=WorklistPublic)
def worklist(db: DbDep, principal: ResultEnter) -> WorklistPublic:
    with db.sessions() as session:
        mine, free = results.worklist(session, principal.login)
        return WorklistPublic(mine=[results.test_public(session, t) for t in mine],
                              unassigned=[results.test_public(session, t) for t in free])  # fmt: skip


@router.get("/review-queue", response_model=list[TestPublic])
def review_queue(db: DbDep, _: ResultReview) -> list[TestPublic]:
    with db.sessions() as session:
        return [results.test_public(session, t) for t in results.review_queue(session)]


@router.get("/oos-cases", response_model=list[OosCasePublic])
def oos_cases(db: DbDep, _: LimsView, status: str = "") -> list[OosCasePublic]:
    with db.sessions() as session:
        return [results.oos_public(session, c) for c in results.list_oos(session, status=status)]
