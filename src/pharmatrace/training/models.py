"""Training needs, tasks, records and the qualifications that gate permissions."""
