"""Events the documents area publishes (through :mod:`pharmatrace.kernel.events`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class VersionApproved:
    """A document version was approved (SH-6.3.3): it becomes effective at ``effective_from``.

    Training subscribes: the people whose roles or positions need this document get training tasks due
    before ``effective_from`` + ``training_grace_days`` (TJ-9.3, TJ-10.1.2.2.d).
    """

    document_id: int
    number: str  # e.g. "SOP-PR-001"
    version_id: int
    version: int
    previous_version_id: int | None  # the version it supersedes, if any
    effective_from: datetime  # UTC
    training_grace_days: int
    training_required: bool
