"""The packaging line against a real peer on loopback (the local Mosquitto, a real TCP server): print data out,
read results back, and every code once in the ledger — commissioned or decommissioned as a camera reject — none
lost, none twice, whatever the transport re-delivers (SH-6.2.5, SH-8.4.1, SH-8.1.1.2, TJ-9.1; issue 10 item 2)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from trace_steps import allocated
from typer.testing import CliRunner

from helpers import count_rows
from pharmatrace.cli import app
from pharmatrace.config import get_settings
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.monitoring.simulators import free_port
from pharmatrace.storage.engine import Database
from pharmatrace.trace import lifecycle
from pharmatrace.trace.line import (
    DUPLICATE,
    NOT_FOR_JOB,
    UNKNOWN_CODE,
    LineCollector,
    LineReport,
    MessageRefused,
    ReadResult,
    decode_result,
    encode_result,
    print_job,
    store,
)
from pharmatrace.trace.line_adapters import MqttLineAdapter, TcpLineAdapter, end_session
from pharmatrace.trace.line_simulator import MqttLineController, TcpLineController
from pharmatrace.trace.models import TraceCode, TraceEvent, TraceEventItem

BROKER = ("127.0.0.1", 1883)  # the local Mosquitto
LINE = "PK-01"
FAST = 12_000.0  # units/min: 30 times the line's 400, so 400 codes take 2 s
WAIT_S = 30.0  # no wait without a time-out


def units(n: int, start: int = 1) -> list[str]:
    return [f"6901234{k:09d}5566" for k in range(start, start + n)]


@pytest.fixture
def prefix() -> Iterator[str]:
    """Topics of this test only; the collector's persistent session is discarded at the end."""
    name = f"t{uuid.uuid4().hex[:10]}/line"
    yield name
    end_session(*BROKER, MqttLineAdapter(*BROKER, [LINE], prefix=name).client_id)


def settled(total: int, before: int = 0) -> object:
    return lambda report: before + report.commissioned + report.rejected >= total


def assert_each_code_once(db: Database, sent: list[ReadResult], values: list[str]) -> None:
    """Every code left ``allocated`` exactly once, as the first read of it on the wire said; every event intact."""
    first: dict[str, ReadResult] = {}
    for result in sent:
        first.setdefault(result.code, result)
    assert set(first) == set(values)
    with db.sessions() as session:
        found = {c.value: c for c in session.scalars(select(TraceCode).where(TraceCode.value.in_(values)))}
        for value, result in first.items():
            expected = ("commissioned", None) if result.status == "good" else ("decommissioned", "rejected")
            assert (found[value].state, found[value].disposition) == expected, value
        left = session.execute(
            select(TraceEventItem.code_id, func.count())
            .where(
                TraceEventItem.code_id.in_([c.id for c in found.values()]),
                TraceEventItem.from_state == "allocated",
            )
            .group_by(TraceEventItem.code_id)
        )
        assert sorted(n for _, n in left) == [1] * len(values)  # once, never twice
        ours = select(TraceEventItem.event_id).where(
            TraceEventItem.code_id.in_([c.id for c in found.values()])
        )
        events = list(
            session.scalars(
                select(TraceEvent).where(
                    TraceEvent.action.in_(["commission", "decommission"]), TraceEvent.id.in_(ours)
                )
            )
        )  # this test's events only, not the demo plant's
        assert sum(e.count for e in events) == len(values)
        assert all(lifecycle.verify_event(session, e.id) for e in events)
        assert {e.recorded_by for e in events} == {"system:trace-line-collector"}
        assert {e.disposition for e in events if e.action == "decommission"} <= {"rejected"}


@pytest.mark.clause("SH-6.2.5.1", "SH-8.4.1", "SH-8.1.1.2", "TJ-9.1")
def test_the_line_prints_and_reads_400_codes_and_each_is_once_in_the_ledger(
    db: Database, prefix: str
) -> None:
    values = units(400)
    batch_no = allocated(db, values)
    job = print_job(db, batch_no, LINE, "J-400")
    assert job.codes == tuple(values) and job.batch_no == batch_no  # in allocation order

    async def main() -> tuple[list[ReadResult], LineReport, int]:
        async with (
            MqttLineController(*BROKER, LINE, prefix=prefix, rate_per_min=FAST, seed=7) as controller,
            MqttLineAdapter(*BROKER, [LINE], prefix=prefix) as adapter,
        ):
            accepted = await adapter.send_job(job)
            collector = LineCollector(db, batch_size=100, flush_seconds=1.0)
            report = await asyncio.wait_for(collector.run(adapter.queue, until=settled(400)), WAIT_S)
            return controller.sent, report, accepted

    sent, report, accepted = asyncio.run(main())  # 400 codes in WAIT_S: faster than the line's 400 units/min
    assert accepted == 400
    rejects = [r for r in sent if r.status == "rejected"]
    assert 1 <= len(rejects) <= 20 and {r.grade for r in rejects} <= {"D", "F"}  # ~2 % camera rejects
    assert (report.commissioned, report.rejected) == (400 - len(rejects), len(rejects))
    assert report.duplicates == report.refused == report.malformed == [] and report.gaps(LINE) == []
    assert_each_code_once(db, sent, values)
    with db.sessions() as session:  # the reject event says why, with the grades the camera gave
        mine = select(TraceEventItem.event_id).join(TraceCode, TraceCode.id == TraceEventItem.code_id)
        reason = session.scalars(
            select(TraceEvent.reason).where(
                TraceEvent.action == "decommission",
                TraceEvent.id.in_(mine.where(TraceCode.value.in_(values))),
            )
        ).first()
        assert reason is not None and "ISO/IEC 15415" in reason and LINE in reason


@pytest.mark.clause("SH-6.2.5.1", "SH-8.4.1")
def test_results_delivered_again_are_not_committed_twice(db: Database, prefix: str) -> None:
    values = units(40)
    batch_no = allocated(db, values)
    job = print_job(db, batch_no, LINE, "J-DUP")
    now = datetime.now(UTC)
    first = [
        ReadResult(LINE, job.job_id, batch_no, n, v, "good", "A", now) for n, v in enumerate(values[:10], 1)
    ]
    assert store(db, first).commissioned == 10
    events = count_rows(db, TraceEvent)
    again = store(db, first)  # the very same batch again: recognised by its event key
    assert again.commissioned == 0 and {d.detail for d in again.duplicates} == {"batch already stored"}
    assert count_rows(db, TraceEvent) == events

    async def main() -> tuple[list[ReadResult], LineReport]:
        async with MqttLineController(*BROKER, LINE, prefix=prefix, rate_per_min=FAST, seed=3) as controller:
            controller.seq = 10
            async with MqttLineAdapter(*BROKER, [LINE], prefix=prefix) as adapter:
                await adapter.send_job(print_job(db, batch_no, LINE, "J-DUP"))  # the 30 codes still unprinted
                await controller.finished()
                await controller.resend([*first[:5], *controller.sent[:5]])  # lost PUBACKs: the same messages
                await controller.publish(controller.read(job, values[20]))  # the same code read a second time
                collector = LineCollector(db, batch_size=7, flush_seconds=0.5)
                report = await asyncio.wait_for(collector.run(adapter.queue, limit=30 + 11), WAIT_S)
                return first + controller.sent, report

    sent, report = asyncio.run(main())
    assert report.commissioned + report.rejected == 30 and report.refused == []
    assert sorted((d.seq, d.code) for d in report.duplicates) == sorted(
        (r.seq, r.code) for r in sent[40:]
    )  # fmt: skip
    assert {d.kind for d in report.duplicates} == {DUPLICATE}
    assert_each_code_once(db, sent, values)


@pytest.mark.clause("SH-8.4.1", "SH-8.1.1.2", "SH-6.2.5.1")
def test_a_collector_stopped_mid_run_loses_nothing(db: Database, prefix: str, tmp_path: Path) -> None:
    values = units(400)
    batch_no = allocated(db, values)
    job = print_job(db, batch_no, LINE, "J-RESTART")
    away = Database.from_url("postgresql+psycopg://nobody@127.0.0.1:9/none", state_dir=tmp_path)  # refused

    async def main() -> tuple[list[ReadResult], list[LineReport]]:
        async with MqttLineController(*BROKER, LINE, prefix=prefix, rate_per_min=FAST, seed=11) as controller:
            adapter = MqttLineAdapter(*BROKER, [LINE], prefix=prefix)
            await adapter.__aenter__()
            await adapter.send_job(job)
            first = LineCollector(db, batch_size=50, flush_seconds=1.0)
            collecting = asyncio.create_task(first.run(adapter.queue))
            async with asyncio.timeout(WAIT_S):
                while first.report.commissioned + first.report.rejected < 100:
                    await asyncio.sleep(0.01)
            await adapter.__aexit__(None, None, None)  # the collector's host goes down mid-batch
            collecting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await collecting  # what it held is stored, but its acknowledgements never reach the broker
            # back, but its database is away: it receives, cannot store, so acknowledges nothing
            async with MqttLineAdapter(*BROKER, [LINE], prefix=prefix) as back:
                second = LineCollector(away, batch_size=10, flush_seconds=0.2)
                with pytest.raises(OperationalError):
                    await asyncio.wait_for(second.run(back.queue), WAIT_S)
            await controller.finished()  # the line runs on: the rest is queued at the broker
            done = first.report.commissioned + first.report.rejected
            async with MqttLineAdapter(*BROKER, [LINE], prefix=prefix) as back:  # the same persistent session
                third = LineCollector(db, batch_size=100, flush_seconds=1.0)
                await asyncio.wait_for(third.run(back.queue, until=settled(400, done)), WAIT_S)
            return controller.sent, [first.report, second.report, third.report]

    sent, (first, second, third) = asyncio.run(main())
    away.dispose()
    assert len(sent) == 400 and second.batches == 0 and second.seqs[LINE]  # received, never stored
    assert 100 <= first.commissioned + first.rejected < 400
    assert first.commissioned + third.commissioned + first.rejected + third.rejected == 400
    assert first.seqs[LINE] | third.seqs[LINE] == set(
        range(1, 401)
    )  # every message arrived where it was stored
    assert second.seqs[LINE] <= third.seqs[LINE]  # what the failed collector held came again
    assert first.refused == third.refused == [] and {d.kind for d in third.duplicates} <= {DUPLICATE}
    assert_each_code_once(db, sent, values)


@pytest.mark.clause("SH-6.2.5.1", "SH-8.4.1")
def test_a_result_for_a_code_of_another_batch_or_line_is_refused_and_reported(
    db: Database, prefix: str
) -> None:
    values = units(10)
    batch_no = allocated(db, values)
    with db.sessions() as session:
        other = session.scalar(select(BatchOrder.id).order_by(BatchOrder.id.desc()).limit(1))
    foreign, elsewhere = units(1, 500), units(1, 600)
    allocated(db, foreign, batch=other)  # same line, another batch
    allocated(db, elsewhere, line="PK-02")  # same batch, another line
    job = print_job(db, batch_no, LINE, "J-FOREIGN")

    async def main() -> LineReport:
        async with (
            MqttLineController(*BROKER, LINE, prefix=prefix, rate_per_min=FAST, seed=5) as controller,
            MqttLineAdapter(*BROKER, [LINE], prefix=prefix) as adapter,
        ):
            await adapter.send_job(job)
            await controller.finished()
            for value in (*foreign, *elsewhere, "69012349999999990000"):
                await controller.publish(controller.read(job, value))
            now = datetime.now(UTC)
            good_graded_f = ReadResult(LINE, job.job_id, batch_no, 99, values[0], "good", "F", now)
            await controller.publish_raw(encode_result(good_graded_f))
            await controller.publish_raw(b'{"type": "result", "v": 1, "seq": 98}')
            collector = LineCollector(db, batch_size=50, flush_seconds=0.5)
            return await asyncio.wait_for(collector.run(adapter.queue, limit=15), WAIT_S)

    items_before = count_rows(db, TraceEventItem)
    report = asyncio.run(main())
    assert report.commissioned + report.rejected == 10
    assert sorted((r.code, r.kind) for r in report.refused) == sorted(
        [(foreign[0], NOT_FOR_JOB), (elsewhere[0], NOT_FOR_JOB), ("69012349999999990000", UNKNOWN_CODE)]
    )
    assert len(report.malformed) == 2 and any("cannot have grade F" in m for m in report.malformed)
    with db.sessions() as session:
        states = {
            c.value: c.state
            for c in session.scalars(select(TraceCode).where(TraceCode.value.in_(foreign + elsewhere)))
        }
    assert states == {foreign[0]: "allocated", elsewhere[0]: "allocated"}  # nothing written for them
    assert count_rows(db, TraceEventItem) == items_before + 10


@pytest.mark.clause("SH-6.2.5.1", "SH-8.4.1", "SH-8.1.2.a")
def test_the_tcp_adapter_carries_the_same_path_across_a_reconnection(db: Database) -> None:
    values = units(120)
    batch_no = allocated(db, values)
    job = print_job(db, batch_no, LINE, "J-TCP")

    async def main() -> tuple[TcpLineController, LineReport, LineReport]:
        async with TcpLineController(LINE, rate_per_min=FAST, reject_rate=0.05, seed=2) as controller:
            async with TcpLineAdapter("127.0.0.1", controller.port, LINE) as adapter:
                assert await adapter.send_job(job) == 120
                first = await asyncio.wait_for(
                    LineCollector(db, batch_size=20).run(adapter.queue, until=settled(40)), WAIT_S
                )
            await controller.finished()  # read while no host listens: kept until acknowledged
            done = first.commissioned + first.rejected
            async with TcpLineAdapter("127.0.0.1", controller.port, LINE) as adapter:
                second = await asyncio.wait_for(
                    LineCollector(db, batch_size=50).run(adapter.queue, until=settled(120, done)), WAIT_S
                )
                async with asyncio.timeout(WAIT_S):
                    while controller.unacked:  # the acknowledgements of the last batch are on their way
                        await asyncio.sleep(0.01)
            return controller, first, second

    controller, first, second = asyncio.run(main())
    assert controller.connections == 2 and controller.unacked == {}
    assert first.rejected + second.rejected >= 1
    assert first.refused == second.refused == []
    assert first.seqs[LINE] | second.seqs[LINE] == set(range(1, 121))
    assert_each_code_once(db, controller.sent, values)


@pytest.mark.clause("SH-8.4.1", "SH-8.1.1.2")
def test_messages_off_the_protocol_are_refused_with_their_reason() -> None:
    good = ReadResult(LINE, "J-1", "B-1", 1, "69012340000000015566", "good", "B", datetime.now(UTC))
    assert decode_result(encode_result(good)) == good
    wire = encode_result(good).decode()
    broken = {
        "seq": wire.replace('"seq":1', '"seq":0'),
        "grade": wire.replace('"grade":"B"', '"grade":"E"'),  # ISO/IEC 15415 has no grade E
        "status": wire.replace('"good"', '"maybe"'),
        "ts": wire.replace("+00:00", ""),  # a time without its zone
        "extra": wire.replace('"v":1', '"v":1,"colour":"red"'),
        "message": "not json",
    }
    for field, payload in broken.items():
        with pytest.raises(MessageRefused, match=field if field != "extra" else "colour"):
            decode_result(payload)


@pytest.mark.clause("SH-6.2.5.1", "SH-8.1.1.2", "TJ-9.1")
def test_the_commands_hand_a_batch_to_a_simulated_line_and_collect_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = units(30)
    batch_no = allocated(db, values)
    port = free_port()
    command = [str(Path(sys.executable).parent / "pharmatrace"), "trace", "line", "simulate", "--line", LINE,
               "--tcp-port", str(port), "--rate", str(FAST), "--reject-rate", "0.1", "--seed", "4"]  # fmt: skip
    simulator = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True
    )  # a real controller, its own process
    try:
        deadline = time.monotonic() + WAIT_S
        while simulator.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.1)
        monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
        monkeypatch.setenv("PHARMATRACE_VAR", str(db.state_dir))
        get_settings.cache_clear()
        result = CliRunner().invoke(
            app,
            ["trace", "line", "collect", "--line", LINE, "--tcp", f"127.0.0.1:{port}", "--batch", batch_no],
        )
    finally:
        get_settings.cache_clear()
        simulator.send_signal(signal.SIGTERM)
        said, _ = simulator.communicate(timeout=WAIT_S)
    assert result.exit_code == 0, result.output
    assert f"30 codes of batch {batch_no} handed to line {LINE}" in result.output
    stored = re.search(r"(\d+) commissioned, (\d+) rejected, 0 duplicates, 0 refused", result.output)
    assert stored is not None and int(stored[1]) + int(stored[2]) == 30
    assert "1 jobs, 30 results sent" in said
    with db.sessions() as session:
        states = Counter(session.scalars(select(TraceCode.state).where(TraceCode.value.in_(values))))
    assert states == {"commissioned": int(stored[1]), "decommissioned": int(stored[2])}
