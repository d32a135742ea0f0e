"""Wiring: open the configured database, migrate it, mirror the permission catalogue."""

from __future__ import annotations

from pharmatrace.config import Settings, get_settings
from pharmatrace.kernel.identity.service import sync_permission_catalogue
from pharmatrace.storage.engine import Database
from pharmatrace.storage.migrate import upgrade


def open_database(settings: Settings | None = None) -> Database:
    settings = settings or get_settings()
    settings.ensure_var()
    return Database.from_url(settings.db_url)


def prepare(db: Database) -> None:
    """Bring the schema to the newest revision and the permission table in line with the code."""
    upgrade(db.engine)
    with db.sessions.begin() as session:
        sync_permission_catalogue(session)
