"""Validation: plans, protocols with acceptance criteria, execution results, reports and status; equipment qualification (issue 9 item 10): the tables (skeleton, filled in by the area)."""
