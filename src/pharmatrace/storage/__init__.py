"""Storage: SQLAlchemy 2 typed ORM on SQLite (embedded) or PostgreSQL, one Alembic history."""
