"""Pages: packaging of a batch."""

from fastapi import APIRouter

router = APIRouter(prefix="/mes", include_in_schema=False)
