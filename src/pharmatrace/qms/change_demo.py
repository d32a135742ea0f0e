"""QMS change control (TJ-10.3): the demo plant's records."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_changes(db: Database, password: str) -> int:
    """Nothing yet: filled in by the change work."""
    return 0
