"""Monitoring records: data sources, tags and historian values (SH-8.4.3)."""

from __future__ import annotations
