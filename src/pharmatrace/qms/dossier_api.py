"""``/api/v1/qms/dossiers``: Registration dossiers and contract-manufacturing agreements as controlled records with expiry reminders (issue 9 item 10) (skeleton)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/qms/dossiers", tags=["qms"])
