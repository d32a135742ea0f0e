"""``/api/v1/qms/validation``: Validation: plans, protocols with acceptance criteria, execution results, reports and status; equipment qualification (issue 9 item 10) (skeleton)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/qms/validation", tags=["qms"])
