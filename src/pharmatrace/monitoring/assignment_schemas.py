"""Inputs and outputs of the people assigned to rooms and equipment for alarm notification (TJ-6.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Login, Reason, Strict

Role = Literal["primary", "backup"]
TargetCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, max_length=32)]


class AssignmentCreate(Strict):
    """Assign ``login`` to a room *or* a piece of equipment (its code), as its primary or backup contact for alarms,
    from ``valid_from`` (now when not given)."""

    login: Login
    room: TargetCode = ""
    equipment: TargetCode = ""
    role: Role = "primary"
    valid_from: datetime | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AssignmentCreate:
        if bool(self.room) == bool(self.equipment):
            raise PydanticCustomError(RULE, N_("Name either a room or a piece of equipment, not both"))
        return self


class AssignmentEnd(Strict):
    reason: Reason


class AssignmentPublic(BaseModel):
    id: int
    login: str
    full_name: str
    room: str | None
    room_name: str | None
    equipment: str | None
    equipment_name: str | None
    role: str
    valid_from: datetime
    created_at: datetime
    created_by: str
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None


class Recipient(BaseModel):
    """Who is told of an alarm: an assigned user (``role`` primary or backup), or, when nobody is assigned to the
    alarm's room or equipment, one of everyone who may acknowledge alarms (``role`` ``None``)."""

    login: str
    full_name: str
    role: str | None
