"""QMS change control (TJ-10.3): the pages."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
