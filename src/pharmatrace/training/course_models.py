"""Curricula, plans, courses, sessions and assessments (TJ-9.3)."""
