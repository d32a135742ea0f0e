"""QMS change control (TJ-10.3): tables."""

from __future__ import annotations
