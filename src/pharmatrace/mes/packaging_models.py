"""Packaging records (TJ-6.4.6, TJ-B.2.3.4)."""
