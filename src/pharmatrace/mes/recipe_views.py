"""Pages: master recipes."""

from fastapi import APIRouter

router = APIRouter(prefix="/mes", include_in_schema=False)
