"""Material master input and output."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from pharmatrace.kernel.identity.schemas import Name, Strict, UpperCode

MaterialKind = Literal[
    "herb",
    "decoction_piece",
    "extract",
    "excipient",
    "primary_packaging",
    "secondary_packaging",
    "intermediate",
    "finished_good",
]


class MaterialCreate(Strict):
    code: UpperCode
    name: Name
    kind: MaterialKind
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    storage_condition: Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)] = ""


class MaterialPublic(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    unit: str
    storage_condition: str
    created_at: datetime
    created_by: str
    voided_at: datetime | None
