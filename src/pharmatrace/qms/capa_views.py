"""QMS corrective and preventive actions (CAPA): the pages."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
