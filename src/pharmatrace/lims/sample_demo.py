"""Demo plant: the demo sampling plans, samples and retained samples (TJ-7.5) (filled by its owner)."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_samples(db: Database, password: str) -> int:
    """Add what is missing; idempotent. Returns how many records were added."""
    return 0
