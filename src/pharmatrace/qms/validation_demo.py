"""Demo plant: Validation: plans, protocols with acceptance criteria, execution results, reports and status; equipment qualification (issue 9 item 10) (skeleton)."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_validation(db: Database, password: str) -> int:
    """Add the demo's records unless there are some; returns how many were added."""
    return 0
