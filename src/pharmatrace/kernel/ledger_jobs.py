"""Ledger jobs that run through the unit of work: sign a checkpoint now, or whenever one is due."""

from __future__ import annotations

from typing import Any

from pharmatrace.config import get_settings
from pharmatrace.kernel import jobs, ledger
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database


def checkpoint(db: Database) -> dict[str, Any] | None:
    """Sign a checkpoint at the current size (unless one covers it) and hand it to the witness.

    When none was due, checkpoints a remote witness could not take before are sent again now.
    """
    with UnitOfWork(db, Actor.system("ledger")) as uow:
        made = uow.checkpoint()
        uow.commit()
    witness = ledger.witness_of(db)
    if made is None and isinstance(witness, ledger.RemoteWitness):
        witness.flush()
    return made


async def checkpointer(db: Database) -> None:
    """In quiet periods no append triggers the time-based checkpoint: sign one every T seconds if due."""
    await jobs.repeat("ledger checkpoint", lambda: checkpoint(db), get_settings().checkpoint_seconds)
