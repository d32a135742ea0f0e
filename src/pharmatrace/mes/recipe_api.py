"""``/api/v1/mes/recipes``."""

from fastapi import APIRouter

router = APIRouter(tags=["mes"])
