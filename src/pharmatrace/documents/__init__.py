"""Document control (SH-6.3.3, TJ-9.2): controlled documents, versions, review, approval, distribution."""
