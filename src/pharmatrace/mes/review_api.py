"""``/api/v1/mes`` — review by exception, the batch record."""

from fastapi import APIRouter

router = APIRouter(tags=["mes"])
