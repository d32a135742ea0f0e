"""``/api/v1`` — distribution and print control."""

from fastapi import APIRouter

router = APIRouter(tags=["documents"])
