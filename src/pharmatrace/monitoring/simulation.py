"""The demo plant's simulated monitoring peers, running (SH-8.1, TJ-6.5): ``pharmatrace monitoring simulate`` and
``pharmatrace serve --demo-simulators`` (what ``make demo`` runs).

The freeze-dryer FD-01 serves OPC UA, the preparation room's water and utilities PLC serves Modbus TCP (purified
water, the hot WFI loop, compressed air, pure steam: TJ-6.7, TJ-6.8), the clean-room sensors and the QC
laboratory's room sensors publish to the plant's MQTT broker — where the demo's data sources point
(``monitoring.demo``).
A port already taken (a developer's own service, a second demo) or a broker that does not answer is not fought over:
a warning says so and the demo goes on without that simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pharmatrace.monitoring.simulators import Point
from pharmatrace.monitoring.simulators.modbus_water import WaterSystemDevice
from pharmatrace.monitoring.simulators.mqtt_cleanroom import MqttCleanroomPublisher
from pharmatrace.monitoring.simulators.opcua_freeze_dryer import SIGNALS, FreezeDryerServer

log = logging.getLogger(__name__)
START_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class DemoPeers:
    """Where the demo's simulators serve: the demo's sources point at these defaults."""

    opcua_port: int = 4840
    modbus_port: int = 5020
    broker: str = "127.0.0.1:1883"
    every: float = 10.0  # seconds between clean-room messages and freeze-dryer changes

    @property
    def broker_address(self) -> tuple[str, int]:
        host, _, port = self.broker.partition(":")
        return host or "127.0.0.1", int(port or 1883)


def demo_points() -> list[Point]:
    """The demo's clean-room and QC-room points (``CLEANROOM-MQTT``), each moving around its demo value."""
    from pharmatrace.monitoring.adapters import Binding
    from pharmatrace.monitoring.demo import BASES, TAGS

    return [
        Point(Binding(t.name, t.address, t.data_type, t.decimals), *BASES[t.name])
        for t in TAGS
        if t.source == "CLEANROOM-MQTT"
    ]


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port`` already (bound the way the servers bind, address reuse on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


async def run_demo_peers(
    peers: DemoPeers, stop: asyncio.Event, started: Callable[[list[str]], None] | None = None
) -> None:
    """Serve the simulators until ``stop`` is set; ``started`` gets a line per simulator running once all are
    up (a simulator that cannot start is skipped with a warning)."""
    running: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        dryer: FreezeDryerServer | None = None
        rooms: MqttCleanroomPublisher | None = None
        if port_taken(peers.opcua_port):
            log.warning("demo simulators: port %d is taken, the freeze-dryer's OPC UA simulator is not started "
                        "(whatever listens there answers FD-01-OPCUA)", peers.opcua_port)  # fmt: skip
        else:
            try:
                dryer = await stack.enter_async_context(FreezeDryerServer("FD-01", port=peers.opcua_port))
                running.append(f"freeze-dryer FD-01 {dryer.url}")
            except OSError as error:
                log.warning("demo simulators: the freeze-dryer's OPC UA simulator did not start: %s", error)
        if port_taken(peers.modbus_port):
            log.warning("demo simulators: port %d is taken, the water point's Modbus simulator is not started "
                        "(whatever listens there answers WATER-MODBUS)", peers.modbus_port)  # fmt: skip
        else:
            try:
                await stack.enter_async_context(WaterSystemDevice("RM-PREP", port=peers.modbus_port))
                running.append(f"water point RM-PREP modbus://127.0.0.1:{peers.modbus_port}/1")
            except OSError as error:
                log.warning("demo simulators: the water point's Modbus simulator did not start: %s", error)
        host, port = peers.broker_address
        try:
            rooms = await stack.enter_async_context(MqttCleanroomPublisher(host, port, demo_points()))
            running.append(f"clean-room sensors publishing to mqtt://{host}:{port}")
        except OSError as error:
            log.warning("demo simulators: no MQTT broker answers at %s:%d, the clean-room sensors are not "
                        "simulated: %s", host, port, error)  # fmt: skip
        if started is not None:
            started(running)
        step = 0
        while not stop.is_set():
            try:
                if rooms is not None:
                    await rooms.publish_step(step, datetime.now(UTC))
                if dryer is not None:  # primary drying: the shelf warms slowly
                    for signal_name, (_, base) in SIGNALS.items():
                        value = base if signal_name == "chamber_pressure" else base + (step % 600) / 20
                        await dryer.write(signal_name, value)
            except (OSError, TimeoutError) as error:  # the broker went away: the next step tries again
                log.warning("demo simulators: step %d not sent: %s", step, error)
            step += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), peers.every)


@contextlib.contextmanager
def demo_peers_in_thread(peers: DemoPeers | None = None) -> Iterator[list[str]]:
    """Run :func:`run_demo_peers` in a background thread (its own event loop) while the block runs, beside a web
    server's loop; yields a line per simulator running."""
    peers = peers or DemoPeers()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    running: list[str] = []

    def started(lines: list[str]) -> None:
        running.extend(lines)
        ready.set()

    async def main() -> None:
        try:
            await run_demo_peers(peers, stop, started)
        except Exception:
            log.exception("demo simulators stopped")
        finally:
            ready.set()

    thread = threading.Thread(
        target=loop.run_until_complete, args=(main(),), name="demo-simulators", daemon=True
    )
    thread.start()
    ready.wait(START_TIMEOUT_S)
    try:
        yield running
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(START_TIMEOUT_S)
        if not thread.is_alive():
            loop.close()
