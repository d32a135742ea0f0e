"""Supplier qualification: documents, samples, audit, risk, QA's signed decision feeding the approved-supplier list (issue 9 item 6): the tables (skeleton, filled in by the area)."""
