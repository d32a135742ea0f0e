"""QA batch review by exception (TJ-6.4.7)."""
