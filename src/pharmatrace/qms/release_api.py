"""Batch release (批放行; TJ-6.3.4, TJ-6.4.7, TJ-9.1)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/qms", tags=["qms"])
