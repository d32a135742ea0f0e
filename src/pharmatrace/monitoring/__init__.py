"""Integrated monitoring: data sources, tags, acquisition adapters, the historian, alarms (issue 11)."""
