"""``/api/v1/training``."""

from fastapi import APIRouter

router = APIRouter(tags=["training"])
