"""``/api/v1/training`` — curricula, courses, sessions, assessments."""

from fastapi import APIRouter

router = APIRouter(tags=["training"])
