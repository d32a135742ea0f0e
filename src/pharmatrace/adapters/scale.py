"""Scales and balances over MT-SICS (Mettler-Toledo Standard Interface Command Set) on TCP.

TJ-6.3.2.2.a: weights are read from the balance's interface, never typed in. This is the asyncio client;
:class:`SyncScaleClient` serves callers outside asyncio. The protocol, as used here:

* a command is one ASCII line ended by CR LF; the reply is one line ended by CR LF;
* a reply is ``<id> <status> [parameters]``: the id echoes the command (``S`` for ``S`` and ``SI``,
  ``I4`` for ``I4`` and ``@``), the status is ``S`` stable, ``D`` dynamic, ``A`` done, ``I`` not
  executable now (busy, or no stability within the balance's own time limit), ``+`` / ``-`` above / below
  the range, ``L`` a logical error (a parameter not allowed);
* a weight is ``<value> <unit>``, the value right-aligned in a field of 10 characters:
  ``S S     100.00 g``; ``S D      99.98 g`` is a dynamic (unstable) value of ``SI``;
* ``ES`` (syntax error: the balance does not know the command), ``ET`` (transmission error) and ``EL``
  (logical error) answer any command.

Weights are :class:`~decimal.Decimal` with the digits the balance sent (``100.00`` keeps its two
decimals), never floats. Every refusal is a typed error with an English msgid (``str(error)`` is English).
After a time-out or a reply that does not fit, the connection is dropped (a late reply would otherwise be
taken for the answer to the next command); the next command connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, TypeVar

from pharmatrace.kernel.errors import N_, PharmaTraceError

DEFAULT_PORT = 4305  # the port many Mettler-Toledo Ethernet interfaces are set to; configurable everywhere
CONNECT_TIMEOUT_S = 3.0
REPLY_TIMEOUT_S = 2.0
STABLE_TIMEOUT_S = 10.0
BUSY_RETRY_S = 0.2
MAX_LINE = 256  # no MT-SICS reply this client uses is longer; a longer one is not MT-SICS

ReadCommand = Literal["S", "SI"]
READ_COMMANDS: tuple[ReadCommand, ...] = ("S", "SI")

# which reply id answers which command
_REPLY_ID = {"S": "S", "SI": "S", "Z": "Z", "T": "T", "TA": "TA", "TAC": "TAC", "I4": "I4", "@": "I4"}
# commands that wait for a stable weight: "I" means "no stability yet", worth asking again until the deadline
_NEEDS_STABILITY = frozenset({"S", "Z", "T"})
_COMMAND = re.compile(r"^(?:[A-Z][A-Z0-9]*|@)(?: [ -~]+)?$")
_WEIGHT = re.compile(r"^(?P<value>[+-]?\s*\d+(?:\.\d+)?)\s+(?P<unit>[A-Za-z%/]{1,8})$")
_QUOTED = re.compile(r'^"(?P<text>[^"]*)"$')


# --- errors -------------------------------------------------------------------------------------------


class ScaleError(PharmaTraceError):
    """The scale could not give what was asked. Nothing was recorded."""

    code: ClassVar[str] = "scale_error"
    http_status: ClassVar[int] = 502


class ScaleNotResponding(ScaleError):
    """No connection, the connection was closed, or no reply within the reply time-out."""

    code = "scale_not_responding"
    http_status = 504


class ScaleProtocolError(ScaleError):
    """A reply that is not MT-SICS, or not the answer to the command sent."""

    code = "scale_protocol_error"


class ScaleCommandRefused(ScaleError):
    """``ES`` / ``ET`` / ``EL``, or an ``L`` status: the scale refused the command itself."""

    code = "scale_command_refused"


class ScaleBusy(ScaleError):
    """``I``: the scale cannot execute the command now."""

    code = "scale_busy"
    http_status = 409


class ScaleNotStable(ScaleBusy):
    """No stable weight within the stability time-out (the load keeps moving: draught, vibration)."""

    code = "scale_not_stable"


class ScaleOutOfRange(ScaleError):
    """``+`` / ``-``: the load is outside the range of the command (weighing, zero setting, taring)."""

    code = "scale_out_of_range"
    http_status = 409


class ScaleOverload(ScaleOutOfRange):
    code = "scale_overload"


class ScaleUnderload(ScaleOutOfRange):
    code = "scale_underload"


_REFUSALS = {
    "ES": N_("The scale at {address} does not know the command “{command}” (ES, syntax error)"),
    "ET": N_("The scale at {address} could not receive the command “{command}” (ET, transmission error)"),
    "EL": N_("The scale at {address} refused the command “{command}” (EL, logical error)"),
}


# --- replies ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Weight:
    """A weight as the scale sent it: the value with the scale's decimals, its unit, and stability."""

    value: Decimal
    unit: str
    stable: bool

    def __str__(self) -> str:
        return f"{self.value} {self.unit}"


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply line split into its id, status and the rest (parameters, stripped)."""

    line: str
    id: str
    status: str
    rest: str


def _shown(line: str | bytes) -> str:
    """A reply as an error message may quote it: printable, short."""
    text = line.decode("ascii", "backslashreplace") if isinstance(line, bytes) else line
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= 60 else text[:57] + "..."


def parse_reply(line: str) -> Reply:
    """Split a reply line (without CR LF). ``ES``/``ET``/``EL`` have no status."""
    if line in _REFUSALS:
        return Reply(line, line, "", "")
    head, sep, tail = line.partition(" ")
    status, _, rest = tail.partition(" ")
    if not sep or not head or len(status) != 1 or status not in "SDAI+-L":
        raise ValueError(line)
    return Reply(line, head, status, rest.strip())


def parse_weight(text: str, *, stable: bool) -> Weight:
    """``     100.00 g`` → ``Weight(Decimal("100.00"), "g")``; the sign may stand apart from the digits."""
    match = _WEIGHT.match(text.strip())
    if match is None:
        raise ValueError(text)
    try:
        value = Decimal(match["value"].replace(" ", ""))
    except InvalidOperation:
        raise ValueError(text) from None
    return Weight(value, match["unit"], stable)


# --- the client ---------------------------------------------------------------------------------------


class ScaleClient:
    """An MT-SICS balance on ``host:port``. One command at a time per client (the protocol has no ids to
    match replies to concurrent commands); use it as ``async with ScaleClient(host, port) as scale``.

    ``reply_timeout`` bounds the wait for any reply; ``stable_timeout`` bounds the wait for a stable weight
    (``S``, ``Z`` and ``T`` wait for stability: the balance may hold its reply, or answer ``I`` and be asked
    again every ``busy_retry`` seconds).
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        reply_timeout: float = REPLY_TIMEOUT_S,
        stable_timeout: float = STABLE_TIMEOUT_S,
        busy_retry: float = BUSY_RETRY_S,
    ) -> None:
        for name, value in (("connect_timeout", connect_timeout), ("reply_timeout", reply_timeout),
                            ("stable_timeout", stable_timeout), ("busy_retry", busy_retry)):  # fmt: skip
            if not value > 0:
                raise ValueError(f"{name} must be positive")
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.stable_timeout = stable_timeout
        self.busy_retry = busy_retry
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        if self._writer is not None:
            return
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=MAX_LINE * 4), self.connect_timeout
            )
        except (OSError, TimeoutError) as error:
            raise ScaleNotResponding(
                N_("Cannot connect to the scale at {address}: {why}"),
                address=self.address,
                why=str(error) or "time-out",
            ) from None

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):  # the peer is gone already; nothing to flush
                await writer.wait_closed()

    def _drop(self) -> None:
        """Drop the connection now: the conversation is out of step (a reply may still be on its way)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()

    # --- raw exchange ---------------------------------------------------------------------------------

    async def _exchange(self, command: str, timeout: float) -> Reply:
        """Send one command and read its reply line; drop the connection on anything unexpected."""
        await self.connect()
        assert self._reader is not None
        assert self._writer is not None
        try:
            self._writer.write(command.encode("ascii") + b"\r\n")
            await self._writer.drain()
            raw = await asyncio.wait_for(self._reader.readuntil(b"\n"), timeout)
        except TimeoutError:
            self._drop()
            if command in _NEEDS_STABILITY:
                raise ScaleNotStable(
                    N_("The scale at {address} gave no stable weight within {timeout} s"),
                    address=self.address,
                    timeout=_seconds(self.stable_timeout),
                ) from None
            raise ScaleNotResponding(
                N_("The scale at {address} did not answer “{command}” within {timeout} s"),
                address=self.address,
                command=command,
                timeout=_seconds(timeout),
            ) from None
        except asyncio.IncompleteReadError as error:
            self._drop()
            if error.partial:
                raise self._malformed(command, error.partial) from None
            raise ScaleNotResponding(
                N_("The scale at {address} closed the connection"), address=self.address
            ) from None
        except asyncio.LimitOverrunError:
            self._drop()
            raise ScaleProtocolError(
                N_("The scale at {address} sent a reply longer than {limit} characters"),
                address=self.address,
                limit=MAX_LINE,
            ) from None
        except asyncio.CancelledError:
            self._drop()  # the caller gave up waiting; a late reply must not answer the next command
            raise
        except OSError as error:
            self._drop()
            raise ScaleNotResponding(
                N_("The connection to the scale at {address} failed: {why}"),
                address=self.address,
                why=str(error),
            ) from None
        if len(raw) > MAX_LINE:
            self._drop()
            raise ScaleProtocolError(
                N_("The scale at {address} sent a reply longer than {limit} characters"),
                address=self.address,
                limit=MAX_LINE,
            )
        if not raw.endswith(b"\r\n"):
            self._drop()
            raise self._malformed(command, raw)
        try:
            line = raw[:-2].decode("ascii")
            if not line.isprintable():
                raise ValueError(line)
            reply = parse_reply(line)
        except ValueError:
            self._drop()
            raise self._malformed(command, raw) from None
        if reply.id in _REFUSALS:
            raise ScaleCommandRefused(_REFUSALS[reply.id], address=self.address, command=command)
        if reply.id != _REPLY_ID.get(command.split(" ", 1)[0], reply.id):
            self._drop()
            raise self._malformed(command, raw)
        return reply

    def _malformed(self, command: str, raw: bytes | str) -> ScaleProtocolError:
        return ScaleProtocolError(
            N_("The scale at {address} answered “{command}” with “{reply}”, which is not an MT-SICS reply"),
            address=self.address,
            command=command,
            reply=_shown(raw),
        )

    async def command(self, command: str) -> Reply:
        """Send any MT-SICS command and return its reply, refusing ``ES``/``ET``/``EL`` (typed errors)."""
        if not _COMMAND.match(command):
            raise ValueError(f"not an MT-SICS command: {command!r}")
        async with self._lock:
            return await self._exchange(command, self.reply_timeout)

    async def _until_stable(self, command: str) -> Reply:
        """A command that waits for stability: ask again on ``I`` until the stability time-out."""
        deadline = time.monotonic() + self.stable_timeout
        async with self._lock:
            while True:
                remaining = deadline - time.monotonic()
                # the balance may hold the reply while it waits for stability itself
                reply = await self._exchange(command, max(remaining, 0.0) + self.reply_timeout)
                if reply.status != "I":
                    return reply
                if time.monotonic() + self.busy_retry > deadline:
                    raise ScaleNotStable(
                        N_("The scale at {address} gave no stable weight within {timeout} s"),
                        address=self.address,
                        timeout=_seconds(self.stable_timeout),
                    )
                await asyncio.sleep(self.busy_retry)

    # --- the commands ---------------------------------------------------------------------------------

    def _refuse(self, command: str, reply: Reply) -> ScaleError:
        """The error for a reply status that is not an answer."""
        if reply.status == "I":
            return ScaleBusy(
                N_("The scale at {address} cannot execute “{command}” now (busy)"),
                address=self.address,
                command=command,
            )
        if reply.status == "+":
            if command in ("S", "SI"):
                return ScaleOverload(
                    N_("The scale at {address} is overloaded: the load is above its weighing range"),
                    address=self.address,
                )
            return ScaleOutOfRange(
                N_("The scale at {address} refused “{command}”: the load is above the range of the command"),
                address=self.address,
                command=command,
            )
        if reply.status == "-":
            if command in ("S", "SI"):
                return ScaleUnderload(
                    N_("The scale at {address} is underloaded: the load is below its weighing range"),
                    address=self.address,
                )
            return ScaleOutOfRange(
                N_("The scale at {address} refused “{command}”: the load is below the range of the command"),
                address=self.address,
                command=command,
            )
        if reply.status == "L":
            return ScaleCommandRefused(_REFUSALS["EL"], address=self.address, command=command)
        return self._malformed(command, reply.line)

    def _weight(self, command: str, reply: Reply, *, stable: bool) -> Weight:
        try:
            return parse_weight(reply.rest, stable=stable)
        except ValueError:
            raise self._malformed(command, reply.line) from None

    async def weigh(self, command: ReadCommand = "S") -> Weight:
        """``S`` (the default): the stable net weight; ``SI``: the weight now, stable or not."""
        if command == "S":
            return await self.stable_weight()
        if command == "SI":
            return await self.immediate_weight()
        raise ValueError(f"not a weighing command: {command!r}")

    async def stable_weight(self) -> Weight:
        """``S``: the next stable net weight (waits up to the stability time-out)."""
        reply = await self._until_stable("S")
        if reply.status != "S":
            raise self._refuse("S", reply)
        return self._weight("S", reply, stable=True)

    async def immediate_weight(self) -> Weight:
        """``SI``: the net weight now; ``stable`` says whether the scale called it stable (``S S``) or
        dynamic (``S D``). A dynamic weight is never a GMP result (TJ-6.3.2.2.a): take ``S`` for that."""
        reply = await self.command("SI")
        if reply.status not in ("S", "D"):
            raise self._refuse("SI", reply)
        return self._weight("SI", reply, stable=reply.status == "S")

    async def zero(self) -> None:
        """``Z``: set zero at the next stable weight (clears the tare)."""
        reply = await self._until_stable("Z")
        if reply.status != "A":
            raise self._refuse("Z", reply)

    async def tare(self) -> Weight:
        """``T``: take the next stable weight as tare; returns the tare weight."""
        reply = await self._until_stable("T")
        if reply.status != "S":
            raise self._refuse("T", reply)
        return self._weight("T", reply, stable=True)

    async def tare_weight(self) -> Weight:
        """``TA``: the tare weight in memory."""
        reply = await self.command("TA")
        if reply.status != "A":
            raise self._refuse("TA", reply)
        return self._weight("TA", reply, stable=True)

    async def preset_tare(self, value: Decimal, unit: str) -> Weight:
        """``TA <value> <unit>``: a known tare (a container's registered weight); returns it as the scale
        rounded it."""
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            raise ValueError(f"a preset tare is a finite, non-negative Decimal: {value!r}")
        if not re.fullmatch(r"[A-Za-z]{1,8}", unit):
            raise ValueError(f"not a unit: {unit!r}")
        reply = await self.command(f"TA {format(value, 'f')} {unit}")
        if reply.status != "A":
            raise self._refuse("TA", reply)
        return self._weight("TA", reply, stable=True)

    async def clear_tare(self) -> None:
        """``TAC``: clear the tare memory."""
        reply = await self.command("TAC")
        if reply.status != "A":
            raise self._refuse("TAC", reply)

    async def serial_number(self) -> str:
        """``I4``: the balance's serial number (to check it is the registered instrument, TJ-6.3.2.2.b)."""
        return self._quoted("I4", await self.command("I4"))

    async def reset(self) -> str:
        """``@``: reset to the state after switching on, without zero setting; cancels pending commands and
        clears the tare. The balance answers with its serial number."""
        return self._quoted("@", await self.command("@"))

    def _quoted(self, command: str, reply: Reply) -> str:
        if reply.status != "A":
            raise self._refuse(command, reply)
        match = _QUOTED.match(reply.rest)
        if match is None:
            raise self._malformed(command, reply.line)
        return match["text"]


def _seconds(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


# --- outside asyncio ----------------------------------------------------------------------------------

T = TypeVar("T")


class SyncScaleClient:
    """:class:`ScaleClient` for callers outside asyncio (a CLI, a worker thread). It runs its own event
    loop, so it may not be used from inside a running loop (use :class:`ScaleClient` there)::

        with SyncScaleClient("10.0.0.21", 4305) as scale:
            weight = scale.stable_weight()
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, **timeouts: float) -> None:
        self._client = ScaleClient(host, port, **timeouts)
        self._runner: asyncio.Runner | None = None

    @property
    def client(self) -> ScaleClient:
        return self._client

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(coroutine)

    def close(self) -> None:
        if self._runner is not None:
            self._runner.run(self._client.close())
            self._runner.close()
            self._runner = None

    def weigh(self, command: ReadCommand = "S") -> Weight:
        return self._run(self._client.weigh(command))

    def stable_weight(self) -> Weight:
        return self._run(self._client.stable_weight())

    def immediate_weight(self) -> Weight:
        return self._run(self._client.immediate_weight())

    def zero(self) -> None:
        self._run(self._client.zero())

    def tare(self) -> Weight:
        return self._run(self._client.tare())

    def tare_weight(self) -> Weight:
        return self._run(self._client.tare_weight())

    def preset_tare(self, value: Decimal, unit: str) -> Weight:
        return self._run(self._client.preset_tare(value, unit))

    def clear_tare(self) -> None:
        self._run(self._client.clear_tare())

    def serial_number(self) -> str:
        return self._run(self._client.serial_number())

    def reset(self) -> str:
        return self._run(self._client.reset())


def read_scale(host: str, port: int = DEFAULT_PORT, command: ReadCommand = "S", **timeouts: float) -> Weight:
    """Connect, read one weight, disconnect (outside asyncio)."""
    with SyncScaleClient(host, port, **timeouts) as scale:
        return scale.weigh(command)
