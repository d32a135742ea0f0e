"""``/api/v1/mes`` — packaging."""

from fastapi import APIRouter

router = APIRouter(tags=["mes"])
