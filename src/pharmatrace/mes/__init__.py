"""Production execution and the electronic batch record (SH-6.2.1, TJ-6.4)."""
