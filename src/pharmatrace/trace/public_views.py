"""Public verification of a pack's code (skeleton; filled by issue 10's work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["trace-public"])
