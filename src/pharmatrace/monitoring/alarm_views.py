"""Pages: monitoring alarms (skeleton; filled by issue 11's work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/monitoring", include_in_schema=False)
