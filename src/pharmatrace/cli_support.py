"""What every command group shares: the database, a refusal on stderr, records as JSON."""

from __future__ import annotations

import json
from typing import NoReturn

import typer
from pydantic import BaseModel

from pharmatrace.bootstrap import open_database, prepare
from pharmatrace.storage.engine import Database


def database() -> Database:
    """The configured database, migrated to the newest revision."""
    db = open_database()
    prepare(db)
    return db


def fail(message: object) -> NoReturn:
    """Print ``error: …`` on stderr and exit with status 2 (a refusal: nothing was changed)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def echo_json(records: list[BaseModel] | BaseModel) -> None:
    """One record or a list of records as indented JSON, Chinese kept readable."""
    if isinstance(records, BaseModel):
        typer.echo(records.model_dump_json(indent=1))
    else:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in records], ensure_ascii=False, indent=1))
