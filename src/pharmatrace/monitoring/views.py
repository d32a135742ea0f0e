"""Integrated monitoring (SH-8.4.3, TJ-6.5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/monitoring", include_in_schema=False)
