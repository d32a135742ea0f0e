"""Pages of the trace area: code (skeleton; filled by issue 10's work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/trace", include_in_schema=False)
