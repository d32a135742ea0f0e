"""Input and output of destructions of historian raw values past their retention (TJ-10.1.6.3): the request, QA's
signed approval, a cancellation with its reason (:class:`~pharmatrace.kernel.identity.schemas.ReasonOnly`), and
a destruction as the pages and the API show it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from pharmatrace.kernel.identity.schemas import Password, Reason, Strict
from pharmatrace.monitoring.schemas import RetentionClass

Month = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{4}-\d{2}$")]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class DestructionCreate(Strict):
    """Ask for the destruction of a month's (UTC, ``YYYY-MM``) raw values of one retention class, and why."""

    month: Month
    retention_class: RetentionClass
    reason: Reason


class DestructionApprove(Strict):
    """QA approves by an electronic signature (never the requester)."""

    password: Password
    login: str | None = None
    comment: Comment = ""


class DestructionPublic(BaseModel):
    number: str
    month: str  # YYYY-MM, UTC
    retention_class: str
    reason: str
    status: str
    kept_until: datetime  # the month's end plus the class's years: when its values may go
    requested_at: datetime
    requested_by: str
    approved_at: datetime | None
    approved_by: str | None
    approval_comment: str
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
    executed_at: datetime | None
    executed_by: str | None
    method: str | None  # rows_deleted, or partition_dropped (PostgreSQL)
    manifest_sm3: str | None
    manifest_file: str | None
    archive_file_sm3: str | None
    values_in_copy: int | None
    values_destroyed: int | None
    values_kept: int | None  # values that raised an alarm, kept with it
    ingests_affected: int | None
    ingests_sm3: str | None
