"""Alarm rules and alarms (skeleton; filled by issue 11's work)."""

from __future__ import annotations
