"""LIMS reagent views (skeleton; filled by its owner)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
