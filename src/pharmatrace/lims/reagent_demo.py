"""Demo plant: the demo reagents, reference standards, solutions and lab instruments (TJ-7.6) (filled by its owner)."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_reagents(db: Database, password: str) -> int:
    """Add what is missing; idempotent. Returns how many records were added."""
    return 0
