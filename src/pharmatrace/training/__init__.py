"""Training (SH-6.3.4, TJ-9.3) and the qualifications that gate permissions (TJ-10.1.2.2.d)."""
