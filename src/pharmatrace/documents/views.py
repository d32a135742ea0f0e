"""Pages of the document library."""

from fastapi import APIRouter

router = APIRouter(prefix="/documents", include_in_schema=False)
