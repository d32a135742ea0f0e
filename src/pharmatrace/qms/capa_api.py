"""QMS corrective and preventive actions (CAPA): the JSON API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
