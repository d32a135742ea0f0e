"""QMS corrective and preventive actions (CAPA): the demo plant's records."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_capas(db: Database, password: str) -> int:
    """Nothing yet: filled in by the capa work."""
    return 0
