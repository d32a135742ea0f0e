"""QMS deviations (TJ-6.4.4): the demo plant's records."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_deviations(db: Database, password: str) -> int:
    """Nothing yet: filled in by the deviation work."""
    return 0
