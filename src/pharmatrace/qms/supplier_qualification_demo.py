"""Demo plant: Supplier qualification: documents, samples, audit, risk, QA's signed decision feeding the approved-supplier list (issue 9 item 6) (skeleton)."""

from __future__ import annotations

from pharmatrace.storage.engine import Database


def seed_supplier_qualifications(db: Database, password: str) -> int:
    """Add the demo's records unless there are some; returns how many were added."""
    return 0
