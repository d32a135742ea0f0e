"""Demo plant: Registration dossiers and contract-manufacturing agreements as controlled records with expiry reminders (issue 9 item 10) (skeleton)."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_dossiers(db: Database, password: str) -> int:
    """Add the demo's records unless there are some; returns how many were added."""
    return 0
