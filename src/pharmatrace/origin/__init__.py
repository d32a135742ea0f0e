"""Herbal-material origin: planting bases to herb lots (TJ-5.1, TJ-5.2.1.5)."""
