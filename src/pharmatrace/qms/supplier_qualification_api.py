"""``/api/v1/qms/supplier-qualifications``: Supplier qualification: documents, samples, audit, risk, QA's signed decision feeding the approved-supplier list (issue 9 item 6) (skeleton)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/qms/supplier-qualifications", tags=["qms"])
