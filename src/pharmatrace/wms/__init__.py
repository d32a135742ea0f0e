"""Materials and warehouse (SH-6.3.2, TJ-6.3.1). This foundation holds the material master only."""
