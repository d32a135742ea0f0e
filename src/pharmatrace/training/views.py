"""Pages: my training, qualification status."""

from fastapi import APIRouter

router = APIRouter(prefix="/training", include_in_schema=False)
