"""Alembic environment: runs against the engine handed over by ``pharmatrace.storage.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from pharmatrace.storage.models import metadata

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    from pharmatrace.config import get_settings
    from pharmatrace.storage.engine import make_engine

    engine = make_engine(get_settings().db_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
