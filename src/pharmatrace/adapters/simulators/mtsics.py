"""A balance that speaks MT-SICS over TCP on loopback, for tests and the demo (no scale needed).

``pharmatrace scale simulate --port 4305 --capacity 6200 --readability 0.01`` runs one. It behaves like a
balance as :mod:`pharmatrace.adapters.scale` expects one:

* the load on the pan is set through the Python API (:meth:`MtSicsSimulator.set_load`) or, from another
  process, with the **simulator-only** commands below; a real balance answers them ``ES``;
* it shows the load rounded to the readability d, relative to its zero point, minus the tare (net);
* after a load change the weight is dynamic for ``settle_time`` seconds: ``SI`` answers ``S D …``, ``S``
  (and ``Z``, ``T``) wait for stability up to ``stable_wait`` seconds and then answer ``I``;
* above capacity + 9 d it answers ``S +`` (OIML R 76 blanks the display beyond Max + 9e); more than
  ``underload`` below its zero point ``S -`` (the pan lifted off);
* ``Z`` sets zero within ±``zero_range`` of the power-on zero (else ``Z +`` / ``Z -``) and clears the
  tare; ``T`` tares the stable gross weight (``T S <tare>``; ``T +`` above capacity, ``T -`` below zero);
  ``TA`` shows the tare, ``TA <value> <unit>`` presets it, ``TAC`` clears it; ``I4`` and ``@`` answer
  ``I4 A "<serial number>"`` (``@`` also clears the tare and cancels the client's waiting command);
* any number of clients; every connection is served on its own, the balance state is shared.

Simulator-only commands (not MT-SICS; the ``X`` prefix keeps them apart from every MT-SICS command):

``XLOAD <value>``        put ``<value>`` (in the balance's unit, the gross load on the pan) → ``XLOAD A``
``XUNSTABLE 1|0``        keep the weight dynamic forever (draught, vibration) or let it settle → ``XUNSTABLE A``
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from types import TracebackType
from typing import Self

MAX_COMMAND = 256


@dataclass(frozen=True, slots=True)
class SimulatedScale:
    """What the simulated balance is: capacity and readability d in ``unit``, serial number, timing."""

    capacity: Decimal = Decimal("6200")
    readability: Decimal = Decimal("0.01")
    unit: str = "g"
    serial_number: str = "B123456789"
    settle_time: float = 0.3  # seconds a weight stays dynamic after a load change
    stable_wait: float = 1.0  # seconds ``S``/``Z``/``T`` wait for stability before answering ``I``
    zero_range: Decimal | None = None  # ± around the power-on zero; default 2 % of capacity
    underload: Decimal | None = None  # below the zero point; default 20 d

    def __post_init__(self) -> None:
        if not (self.capacity > 0 and self.readability > 0 and self.readability < self.capacity):
            raise ValueError("the capacity and the readability must be positive, d below the capacity")
        if not (self.settle_time >= 0 and self.stable_wait >= 0):
            raise ValueError("times must not be negative")
        if not self.unit.isalpha() or not self.serial_number.isprintable() or '"' in self.serial_number:
            raise ValueError("a unit is letters; a serial number is printable, without quotes")

    @property
    def zero_limit(self) -> Decimal:
        return self.zero_range if self.zero_range is not None else self.capacity * Decimal("0.02")

    @property
    def underload_limit(self) -> Decimal:
        return self.underload if self.underload is not None else self.readability * 20

    @property
    def overload_limit(self) -> Decimal:
        return self.capacity + 9 * self.readability


class MtSicsSimulator:
    """The simulated balance and its TCP server::

    async with MtSicsSimulator(SimulatedScale(), port=0) as scale:  # port 0: an ephemeral port
        scale.set_load(Decimal("100"))
        ... ScaleClient("127.0.0.1", scale.port) ...

    or, from code that is not asyncio (the CLI tests), ``with MtSicsSimulator(...).running_in_thread()``.
    The load may be set from any thread.
    """

    def __init__(
        self, scale: SimulatedScale | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.scale = scale or SimulatedScale()
        self.host = host
        self.requested_port = port
        self._lock = threading.Lock()
        self._load = Decimal(0)  # gross load on the pan (physical), in the balance's unit
        self._zero = Decimal(0)  # the load at the last zero setting
        self._tare = Decimal(0)
        self._changed_at = time.monotonic() - self.scale.settle_time  # settled at power-on
        self._unstable = False
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.commands: deque[str] = deque(maxlen=1000)  # the latest commands received, in order (tests)

    # --- the balance ----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the simulator is not serving")
        return int(self._server.sockets[0].getsockname()[1])

    def set_load(self, load: Decimal) -> None:
        """Put ``load`` (gross, in the balance's unit) on the pan; the weight is dynamic for a while."""
        if not isinstance(load, Decimal) or not load.is_finite():
            raise ValueError("a load is a finite Decimal")
        with self._lock:
            if load != self._load:
                self._load = load
                self._changed_at = time.monotonic()

    def set_unstable(self, unstable: bool) -> None:
        """Keep the weight dynamic (``True``) until called with ``False``."""
        with self._lock:
            self._unstable = unstable
            self._changed_at = time.monotonic()

    @property
    def tare(self) -> Decimal:
        return self._shown(self._tare)

    @property
    def stable(self) -> bool:
        with self._lock:
            return not self._unstable and time.monotonic() - self._changed_at >= self.scale.settle_time

    def _shown(self, value: Decimal) -> Decimal:
        """``value`` rounded to the readability d, with d's decimals."""
        d = self.scale.readability
        steps = (value / d).to_integral_value(rounding=ROUND_HALF_EVEN)
        return (steps * d).quantize(d)

    def _gross(self) -> Decimal:
        return self._load - self._zero

    def _range(self) -> str | None:
        gross = self._gross()
        if gross > self.scale.overload_limit:
            return "+"
        if gross < -self.scale.underload_limit:
            return "-"
        return None

    def _format(self, value: Decimal) -> str:
        # MT-SICS: the value right-aligned in 10 characters, a space, the unit
        return f"{format(self._shown(value), 'f'):>10} {self.scale.unit}"

    async def _wait_stable(self) -> bool:
        """Wait for stability up to ``stable_wait`` seconds, as a balance does before ``S``/``Z``/``T``."""
        deadline = time.monotonic() + self.scale.stable_wait
        while not self.stable:
            with self._lock:
                settles_at = self._changed_at + self.scale.settle_time
                unstable = self._unstable
            now = time.monotonic()
            if now >= deadline:
                return False
            wait = deadline - now if unstable else min(max(settles_at - now, 0.005), deadline - now)
            await asyncio.sleep(min(wait, 0.05))
        return True

    # --- commands -------------------------------------------------------------------------------------

    async def answer(self, line: str) -> str:
        """The reply to one command line (without CR LF)."""
        self.commands.append(line)
        name, _, argument = line.partition(" ")
        if name == "SI" and not argument:
            limit = self._range()
            if limit:
                return f"S {limit}"
            status = "S" if self.stable else "D"
            return f"S {status} {self._format(self._gross() - self._tare)}"
        if name == "S" and not argument:
            if not await self._wait_stable():
                return "S I"
            limit = self._range()
            return f"S {limit}" if limit else f"S S {self._format(self._gross() - self._tare)}"
        if name == "Z" and not argument:
            return await self._set_zero()
        if name == "T" and not argument:
            return await self._take_tare()
        if name == "TA":
            return self._tare_memory(argument)
        if name == "TAC" and not argument:
            with self._lock:
                self._tare = Decimal(0)
            return "TAC A"
        if name in ("I4", "@") and not argument:
            if name == "@":
                with self._lock:
                    self._tare = Decimal(0)
            return f'I4 A "{self.scale.serial_number}"'
        if name == "XLOAD" and argument:
            try:
                self.set_load(Decimal(argument))
            except (InvalidOperation, ValueError):
                return "EL"
            return "XLOAD A"
        if name == "XUNSTABLE" and argument in ("0", "1"):
            self.set_unstable(argument == "1")
            return "XUNSTABLE A"
        return "ES"

    async def _set_zero(self) -> str:
        if not await self._wait_stable():
            return "Z I"
        with self._lock:
            # the zero range is counted from the power-on zero (a load of 0)
            if self._load > self.scale.zero_limit:
                return "Z +"
            if self._load < -self.scale.zero_limit:
                return "Z -"
            self._zero = self._load
            self._tare = Decimal(0)
        return "Z A"

    async def _take_tare(self) -> str:
        if not await self._wait_stable():
            return "T I"
        with self._lock:
            gross = self._shown(self._gross())
            if gross > self.scale.capacity:
                return "T +"
            if gross < 0:
                return "T -"
            self._tare = gross
        return f"T S {self._format(gross)}"

    def _tare_memory(self, argument: str) -> str:
        if not argument:
            return f"TA A {self._format(self._tare)}"
        value, _, unit = argument.partition(" ")
        try:
            tare = Decimal(value)
        except InvalidOperation:
            return "ES"
        if unit != self.scale.unit or not tare.is_finite():
            return "TA L"
        if tare < 0 or tare > self.scale.capacity:
            return "TA L"
        with self._lock:
            self._tare = self._shown(tare)
        return f"TA A {self._format(self._tare)}"

    # --- the server -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.requested_port)

    async def stop(self) -> None:
        """Stop listening, close every connection, and wait until they are gone."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._conversation(reader, writer)
        except (asyncio.CancelledError, ConnectionError):
            pass  # shut down, or the client went away
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _conversation(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return  # the client closed the connection
            except asyncio.LimitOverrunError:
                return
            try:
                line = raw.rstrip(b"\r\n").decode("ascii")
            except UnicodeDecodeError:
                reply = "ET"
            else:
                reply = "ET" if len(raw) > MAX_COMMAND or not line.isprintable() else await self.answer(line)
            writer.write(reply.encode("ascii") + b"\r\n")
            await writer.drain()

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[Self]:
        """Serve from a background thread with its own event loop while the block runs."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                await self.start()
            except BaseException as error:
                failure.append(error)
                ready.set()
                return
            ready.set()
            try:
                await stop.wait()
            finally:
                await self.stop()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        ready.wait(10)
        if failure:
            thread.join()
            loop.close()
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()
