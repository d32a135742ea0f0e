"""A ledger witness on another host: ``pharmatrace witness serve --store DIR`` (SH-8.4.5).

The plant's ledger sends each signed checkpoint here (``PHARMATRACE_WITNESS_URL=http://host:port``). The
service is append-only: it takes a checkpoint only when it is validly SM2-signed (by one of the site
public keys it was given, if any) and its tree is larger than the last one it holds, stores it with its
own receive time as one fsynced line of ``DIR/witness.jsonl``, never rewrites that file, and returns what
it holds. A database rewritten consistently, or restored from an older copy, then disagrees with it.

    POST /checkpoints   201 stored · 200 the same checkpoint was already held · 409 not newer · 403 key not
                        trusted · 422 malformed or badly signed · 413 too large
    GET  /checkpoints   {"checkpoints": [...], "torn": null | "..."}
    GET  /health        {"status": "ok", "tree_size": N}
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from pharmatrace.kernel import clock, crypto
from pharmatrace.kernel.audit import plain_value
from pharmatrace.kernel.errors import N_, Conflict, NotPermitted, ValidationFailed
from pharmatrace.kernel.ledger import FileWitness, canonical, checkpoint_message

CHECKPOINT_FIELDS = frozenset({"tree_size", "root", "at", "key", "public_key", "signature"})
MAX_BODY = 4096  # a checkpoint is about 500 bytes


class CheckpointRejected(ValidationFailed):
    code = "checkpoint_rejected"


class CheckpointNotNewer(Conflict):
    code = "checkpoint_not_newer"


class CheckpointKeyUntrusted(NotPermitted):
    code = "checkpoint_key_untrusted"


class WitnessStore:
    """The append-only file of received checkpoints; one process, many threads."""

    def __init__(self, directory: Path, trusted_keys: Sequence[bytes] = ()) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "witness.jsonl"
        self.trusted = {crypto.fingerprint(key): bytes(key) for key in trusted_keys}
        self._lock = threading.Lock()
        held, _ = self.read()
        self._last: dict[str, Any] | None = held[-1] if held else None

    def read(self) -> tuple[list[dict[str, Any]], str | None]:
        return FileWitness(self.path).read()

    @property
    def tree_size(self) -> int:
        return int(self._last["tree_size"]) if self._last else 0

    def check(self, checkpoint: Mapping[str, Any]) -> None:
        """Raise unless ``checkpoint`` is a well-formed checkpoint signed by the key it names (and trusted)."""
        if set(checkpoint) != CHECKPOINT_FIELDS:
            raise CheckpointRejected(
                N_("A checkpoint has exactly the fields {fields}."), fields=sorted(CHECKPOINT_FIELDS)
            )
        try:
            size, key = checkpoint["tree_size"], str(checkpoint["key"])
            root = bytes.fromhex(str(checkpoint["root"]))
            at = datetime.fromisoformat(str(checkpoint["at"]))
            public_key = bytes.fromhex(str(checkpoint["public_key"]))
            signature = bytes.fromhex(str(checkpoint["signature"]))
        except ValueError:
            raise CheckpointRejected(
                N_("The checkpoint's root, time, key or signature is malformed.")
            ) from None
        if type(size) is not int or size <= 0 or len(root) != crypto.SM3_SIZE or at.tzinfo is None:
            raise CheckpointRejected(N_("The checkpoint's tree size, root or time is malformed."))
        if plain_value(at) != checkpoint["at"]:
            raise CheckpointRejected(N_("The checkpoint's time is not in canonical form."))
        if self.trusted and self.trusted.get(key) != public_key:
            raise CheckpointKeyUntrusted(
                N_("The checkpoint is signed by key {key}, which this witness does not trust."), key=key
            )
        if crypto.fingerprint(public_key) != key or not crypto.verify(
            public_key, checkpoint_message(size, root, at, key), signature
        ):
            raise CheckpointRejected(N_("The checkpoint's SM2 signature is invalid."))

    def receive(self, checkpoint: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Store a checkpoint newer than all held; (False, the held one) when it is one already held."""
        self.check(checkpoint)
        with self._lock:
            last = self._last
            if last is not None and checkpoint["tree_size"] <= last["tree_size"]:
                held, _ = self.read()
                same = next((h for h in held if _signed_part(h) == dict(checkpoint)), None)
                if same is not None:  # sent again after a lost answer: nothing to do
                    return False, same
                raise CheckpointNotNewer(
                    N_("The witness holds a checkpoint of tree size {held}; it takes only larger ones."),
                    held=last["tree_size"],
                )
            record = {**checkpoint, "received_at": plain_value(clock.now())}
            self._append(canonical(record) + b"\n")
            self._last = record
            return True, record

    def _append(self, line: bytes) -> None:
        with self.path.open("a+b") as handle:  # every write goes to the end, whatever was read
            fcntl.flock(handle, fcntl.LOCK_EX)  # another process on the same store waits
            end = handle.seek(0, os.SEEK_END)
            if end:
                handle.seek(end - 1)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")  # a torn line from a crash stays as it is, on its own line
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def _signed_part(record: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name in CHECKPOINT_FIELDS}


def create_app(store: WitnessStore) -> Any:
    """The witness as an ASGI application (Starlette)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "tree_size": store.tree_size})

    async def checkpoints(_: Request) -> JSONResponse:
        held, torn = await run_in_threadpool(store.read)
        return JSONResponse({"checkpoints": held, "torn": torn})

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"detail": "checkpoint too large"}, status_code=413)
        try:
            checkpoint = json.loads(body)
            if not isinstance(checkpoint, dict):
                raise ValueError("not an object")
        except ValueError:
            return JSONResponse({"detail": "the body is not a JSON object"}, status_code=422)
        try:
            stored, record = await run_in_threadpool(store.receive, checkpoint)
        except (CheckpointRejected, CheckpointNotNewer, CheckpointKeyUntrusted) as error:
            return JSONResponse({"code": error.code, "detail": str(error)}, status_code=error.http_status)
        return JSONResponse(record, status_code=201 if stored else 200)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/checkpoints", checkpoints, methods=["GET"]),
            Route("/checkpoints", receive, methods=["POST"]),
        ]
    )


# --- the command ------------------------------------------------------------------------------------

witness_app = typer.Typer(help="A ledger witness service for another host", no_args_is_help=True)


@witness_app.command("serve")
def serve_command(
    store: Annotated[Path, typer.Option("--store", help="directory of the append-only witness file")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8765,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="PEM file of a site public key to accept (repeatable; `pharmatrace ledger site-key` prints "
            "it). Without one, any checkpoint validly signed by the key it carries is accepted.",
        ),
    ] = None,
) -> None:
    """Serve the witness: take signed checkpoints, larger trees only, and never rewrite them."""
    import uvicorn

    keys = [crypto.public_key_from_pem(path.read_text()) for path in public_key or []]
    witness = WitnessStore(store, keys)
    trusted = ", ".join(sorted(witness.trusted)) or "any validly signed"
    typer.echo(f"witness: {witness.path} · {witness.tree_size} tree size held · keys: {trusted}")
    uvicorn.run(create_app(witness), host=host, port=port, log_level="warning")
