"""Exports of the trace area over the REST API: EPCIS 2.0 and the national platform (skeleton; issue 10 item 7)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/trace", tags=["trace"])
