"""Master recipes, ISA-88 shaped (TJ-6.4.3.1)."""
