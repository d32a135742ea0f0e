"""Validation: plans, protocols with acceptance criteria, execution results, reports and status; equipment qualification (issue 9 item 10): the pages (skeleton)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/qms", include_in_schema=False)
