"""Controlled documents and their versions (SH-6.3.3, TJ-9.2)."""
