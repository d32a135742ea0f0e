"""OOS investigation records: phase II, conclusion and closure (TJ-7.7, TJ-B.2.4.3)."""

from __future__ import annotations
