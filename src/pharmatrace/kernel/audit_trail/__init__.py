"""Audit-trail views and exports: the trail by time, object, event and user; CSV and PDF (SH-7.1.3)."""
