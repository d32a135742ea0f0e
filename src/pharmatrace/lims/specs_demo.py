"""Demo plant: the demo specifications: herbs, excipients, the product (TJ-7.2) (filled by its owner)."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_specifications(db: Database, password: str) -> int:
    """Add what is missing; idempotent. Returns how many records were added."""
    return 0
