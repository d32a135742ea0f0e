"""QMS corrective and preventive actions (CAPA): the service (being built)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def capas_for_source(session: Session, source_type: str, source_ref: str) -> list[Any]:
    """The CAPAs raised from one source record (e.g. ``("deviation", "DEV-2026-0001")``)."""
    return []
