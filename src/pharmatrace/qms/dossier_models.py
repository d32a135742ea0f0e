"""Registration dossiers and contract-manufacturing agreements as controlled records with expiry reminders (issue 9 item 10): the tables (skeleton, filled in by the area)."""
