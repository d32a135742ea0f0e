"""``/api/v1/mes`` — QA review by exception (TJ-6.4.7) and the batch record document (TJ-6.4.3.5).

* The review list, a batch's review and its QA sign-off need ``mes.batch.review`` (QA reviewer, QP).
* The batch record as a document (list and PDF) needs ``audit.trail.view``: QA and the QP (who also hold
  ``mes.batch.review``), the QC reviewer, inspectors and the administrator — those who may read every
  recorded value with its history. Operators and supervisors work on the batch's own pages instead. Every
  export is audited (``ebr.export``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from pharmatrace.kernel.identity.service import Principal
from pharmatrace.mes import ebr, ebr_pdf, execution, review
from pharmatrace.mes.review_schemas import (
    RecordListItem,
    ReviewCreate,
    ReviewFilter,
    ReviewItemPublic,
    ReviewPublic,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(tags=["mes"])

BatchReviewer = Annotated[Principal, Depends(Requires("mes.batch.review"))]
RecordReader = Annotated[Principal, Depends(Requires("audit.trail.view"))]


class BatchReviewPublic(BaseModel):
    order_no: str
    batch_no: str
    status: str
    items: list[ReviewItemPublic]
    review: ReviewPublic | None


@router.get("/mes/review", response_model=list[ReviewItemPublic])
def review_list(
    db: DbDep, _: BatchReviewer, batch: str = "", product: str = "", kind: str = "", status: str = "",
    date_from: date | None = None, date_to: date | None = None,
) -> list[ReviewItemPublic]:  # fmt: skip
    """The exceptions across batches, newest first, filtered by batch, product, kind, status and date."""
    f = ReviewFilter(
        batch=batch, product=product, kind=kind, status=status, date_from=date_from, date_to=date_to
    )
    with db.sessions() as session:
        return review.review_items(session, f)


@router.get("/mes/batches/{order_no}/review", response_model=BatchReviewPublic)
def batch_review(order_no: str, db: DbDep, _: BatchReviewer) -> BatchReviewPublic:
    with db.sessions() as session:
        order = execution.get_order(session, order_no)
        done = review.review_of(session, order)
        return BatchReviewPublic(
            order_no=order.order_no, batch_no=order.batch_no, status=order.status,
            items=review.review_items(session, order_ids=[order.id]),
            review=review.review_public(done, order) if done else None,
        )  # fmt: skip


@router.post("/mes/batches/{order_no}/review", response_model=ReviewPublic)
def sign_review(order_no: str, body: ReviewCreate, db: DbDep, principal: BatchReviewer) -> ReviewPublic:
    """QA's review sign-off: refused while a step is not done or an exception is undecided, and to anyone who
    took part in the batch; on success the batch is ``reviewed`` and handed to release."""
    with uow_for(db, principal) as uow:
        order = execution.get_order(uow.session, order_no)
        done = review.review_batch(uow, principal, order, password=body.password, login=body.login,
                                   comment=body.comment)  # fmt: skip
        uow.commit()
        return review.review_public(done, order)


@router.get("/mes/records", response_model=list[RecordListItem])
def record_list(
    db: DbDep, _: RecordReader, batch: str = "", product: str = "", date_from: date | None = None,
    date_to: date | None = None,
) -> list[RecordListItem]:  # fmt: skip
    with db.sessions() as session:
        return [
            RecordListItem(
                order_no=o.order_no, batch_no=o.batch_no, product_code=o.product_code, product_name=o.product_name,
                status=o.status, started_at=o.started_at, completed_at=o.completed_at,
                reviewed_at=(r.reviewed_at if (r := review.review_of(session, o)) else None),
            )
            for o in ebr.list_records(session, batch=batch, product=product, date_from=date_from, date_to=date_to)
        ]  # fmt: skip


@router.get(
    "/mes/batches/{order_no}/record.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def record_pdf(order_no: str, db: DbDep, principal: RecordReader) -> Response:
    """The complete batch record as PDF/A-2B with the embedded Chinese font; the export is audited."""
    content, filename = ebr_pdf.export_record_pdf(db, principal, order_no, translate=i18n.gettext)
    return Response(content, media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})  # fmt: skip
