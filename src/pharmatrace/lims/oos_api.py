"""``/api/v1/lims/oos`` — OOS investigations (TJ-7.7, TJ-B.2.4.3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/lims", tags=["lims"])
