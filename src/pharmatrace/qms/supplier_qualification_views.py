"""Supplier qualification: documents, samples, audit, risk, QA's signed decision feeding the approved-supplier list (issue 9 item 6): the pages (skeleton)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/qms", include_in_schema=False)
