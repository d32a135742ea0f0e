"""Pages: QA review by exception and the electronic batch record."""

from fastapi import APIRouter

router = APIRouter(prefix="/mes", include_in_schema=False)
