"""QMS deviations (TJ-6.4.4): tables."""

from __future__ import annotations
