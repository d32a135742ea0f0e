"""QMS corrective and preventive actions (CAPA): tables."""

from __future__ import annotations
