"""``/api/v1/documents``."""

from fastapi import APIRouter

router = APIRouter(tags=["documents"])
