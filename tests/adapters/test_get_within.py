"""A collector's wait on its queue (SH-8.4.1: nothing lost, nothing hung): cancelled just as an item arrives, the
wait is cancelled and the item stays queued — the race that hung a line collector once under load (Python 3.11's
``asyncio.wait_for`` swallowed that cancellation, CPython gh-86296)."""

from __future__ import annotations

import asyncio

import pytest

from pharmatrace.adapters import get_within


@pytest.mark.clause("SH-8.4.1")
def test_a_cancellation_as_the_item_arrives_is_kept_and_the_item_stays_queued() -> None:
    async def race() -> tuple[bool, int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        waiting = asyncio.create_task(get_within(queue, 5.0))  # with a limit: where wait_for swallowed it
        await asyncio.sleep(0)  # the task now waits on the queue
        queue.put_nowait(7)  # the item arrives (the getter is woken) ...
        waiting.cancel()  # ... and the cancellation, before the task runs again
        try:
            await waiting
        except asyncio.CancelledError:
            return True, queue.qsize()
        return False, queue.qsize()

    assert asyncio.run(race()) == (True, 1)


@pytest.mark.clause("SH-8.4.1")
def test_an_empty_queue_times_out_and_an_item_is_returned() -> None:
    async def both() -> tuple[bool, int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        try:
            await get_within(queue, 0.01)
            timed_out = False
        except TimeoutError:
            timed_out = True
        queue.put_nowait(3)
        return timed_out, await get_within(queue, 1.0)

    assert asyncio.run(both()) == (True, 3)
