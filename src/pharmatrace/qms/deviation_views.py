"""QMS deviations (TJ-6.4.4): the pages."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
