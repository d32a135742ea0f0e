"""Adapters to shop-floor devices over their real protocols (scales, OPC UA, MQTT, Modbus, printers), and what
their collectors share."""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def get_within(queue: asyncio.Queue[T], seconds: float | None) -> T:
    """``queue.get()`` within ``seconds`` (``None``: no limit), else ``TimeoutError``.

    Unlike ``asyncio.wait_for`` on Python 3.11, a cancellation that arrives just as an item does is never
    swallowed (CPython gh-86296): a collector cancelled at that moment went on waiting on its queue for ever.
    A cancelled ``get`` leaves the item in the queue."""
    async with asyncio.timeout(seconds):
        return await queue.get()
