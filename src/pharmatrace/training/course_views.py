"""Pages: curricula, courses, sessions, assessments, the training matrix."""

from fastapi import APIRouter

router = APIRouter(prefix="/training", include_in_schema=False)
