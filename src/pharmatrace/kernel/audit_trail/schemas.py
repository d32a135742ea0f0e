"""Audit-trail output for the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry


class AuditEntryPublic(BaseModel):
    """One entry with the TJ-B.2.5 fields; ``changes`` is ``{field: [old, new]}``."""

    id: int
    at: datetime = Field(description="CZSJ, UTC")
    at_beijing: str = Field(description="CZSJ in Beijing time, YYYY-MM-DD HH:MM:SS")
    event: str = Field(description="CZLX")
    object_type: str = Field(description="CZDX: the record type")
    object_id: str = Field(description="CZDX: the record's key")
    actor_id: int | None
    actor_login: str
    actor_name: str = Field(description="CZZ")
    reason: str | None = Field(description="CZYY")
    changes: dict[str, Any] = Field(description="JZ → XZ: {field: [old, new]}")
    request_id: str | None
    client_address: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryPublic:
        return cls(
            id=entry.id,
            at=entry.at,
            at_beijing=clock.format_beijing(entry.at),
            event=entry.event,
            object_type=entry.object_type,
            object_id=entry.object_id,
            actor_id=entry.actor_id,
            actor_login=entry.actor_login,
            actor_name=entry.actor_name,
            reason=entry.reason,
            changes=entry.changes or {},
            request_id=entry.request_id,
            client_address=entry.client_address,
        )


class TrailPagePublic(BaseModel):
    total: int
    page: int
    per_page: int
    entries: list[AuditEntryPublic]


class AuditedRecordPublic(BaseModel):
    object_type: str
    table: str
    description: str
    operations: list[str]
    parts: list[str]


class AuditedEventPublic(BaseModel):
    event: str
    description: str


class AuditedFunctionsPublic(BaseModel):
    """SH-7.1.3.a: what the trail captures — record types with their operations, and other events."""

    records: list[AuditedRecordPublic]
    events: list[AuditedEventPublic]
    other_events: list[str] = Field(description="events found in the trail that the list does not name")
