"""Pages: distribution and printed copies."""

from fastapi import APIRouter

router = APIRouter(prefix="/documents", include_in_schema=False)
