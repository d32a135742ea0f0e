"""Monitoring alarms over the REST API (skeleton; filled by issue 11's work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
