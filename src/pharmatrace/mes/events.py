"""Events the production area publishes (through :mod:`pharmatrace.kernel.events`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BatchReviewed:
    """QA reviewed a batch record and handed the batch to release (TJ-6.4.7).

    The QMS release (Qualified Person, ``qms.release.decide``) subscribes: the batch becomes a candidate
    for its release decision. Delivered in the review's transaction (a failing handler undoes the review).
    """

    batch_order_id: int
    order_no: str
    batch_no: str
    product_code: str
    review_id: int
    reviewed_by: str
    reviewed_at: datetime  # UTC
    exceptions_total: int
    record_sm3: str  # the SM3 of the reviewed record (steps' evidence and exceptions' decisions)
