"""The trace area's REST API: genealogy (skeleton; filled by issue 10's work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/trace", tags=["trace"])
