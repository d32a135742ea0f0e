"""QMS deviations (TJ-6.4.4): the JSON API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
