"""Periodic jobs of the web process (started in its lifespan when background work is on, ``serve``).

A job is a plain function run in a worker thread every ``every`` seconds; a failed round is logged and retried at
the next one: it must never stop the web process. The jobs themselves write through the unit of work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("pharmatrace.jobs")


async def repeat(name: str, job: Callable[[], object], every: float, *, at_start: bool = False) -> None:
    """Run ``job`` every ``every`` seconds (first right away when ``at_start``), until cancelled."""
    if not at_start:
        await asyncio.sleep(every)
    while True:
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception("%s failed", name)
        await asyncio.sleep(every)
