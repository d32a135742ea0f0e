"""Batch release records: the checklist snapshot and the qualified person's decision (TJ-6.3.4, TJ-6.4.7, TJ-9.1)."""

from __future__ import annotations
