"""LIMS models: specs (skeleton; filled by its owner)."""

from __future__ import annotations
