"""Periodic jobs of the web process: a failed round is logged and the job goes on (SH-8.4.5, TJ-6.4.4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from pharmatrace.kernel import jobs


@pytest.mark.clause("SH-8.4.5", "TJ-6.4.4")
def test_a_periodic_job_survives_a_failed_round(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []

    def job() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("database away")

    async def run() -> None:
        task = asyncio.create_task(jobs.repeat("test job", job, 0.01, at_start=True))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if len(rounds) >= 3:
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="pharmatrace.jobs"):
        asyncio.run(run())
    assert len(rounds) >= 3  # the failure of the first round did not stop the job
    assert "test job failed" in caplog.text and "database away" in caplog.text
