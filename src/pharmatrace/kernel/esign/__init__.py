"""Electronic signatures (SH-7.1.4 a–f, TJ-10.2, TJ-B.2.6; 21 CFR 11.50/11.70/11.200)."""
