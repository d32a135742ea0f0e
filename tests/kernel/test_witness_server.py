"""The remote ledger witness (SH-8.4.5): a real `pharmatrace witness serve` process on a loopback port.

The service keeps signed checkpoints append-only (larger trees only, validly signed, never rewritten); the
ledger posts each checkpoint to it, keeps what it cannot deliver pending locally, and `ledger verify`
compares the database with what the service holds.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from test_ledger import drop_guards, kinds, new_material, rewrite_whole_database

from helpers import behind_the_apps_back
from pharmatrace.kernel import clock, crypto, ledger, ledger_jobs
from pharmatrace.kernel.audit import plain_value
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material

pytestmark = pytest.mark.clause("SH-8.4.5")
PHARMATRACE = str(Path(sys.executable).with_name("pharmatrace"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def witness_service(store: Path, *public_keys: Path, port: int | None = None) -> Iterator[str]:
    """`pharmatrace witness serve` in a process of its own; yields its URL once it answers."""
    port = port or free_port()
    command = [PHARMATRACE, "witness", "serve", "--store", str(store), "--port", str(port)]
    for key in public_keys:
        command += ["--public-key", str(key)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.communicate()[0] if process.poll() is not None else ""
                    raise AssertionError(f"the witness service did not start: {output}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout:
            process.stdout.close()


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def signed(keys: crypto.KeyPair, size: int, root: bytes | None = None) -> dict[str, Any]:
    """A checkpoint as the ledger makes it (``ledger._checkpoint``), for a tree of ``size``."""
    root = root or crypto.sm3(f"tree {size}".encode())
    at, key = clock.now(), crypto.fingerprint(keys.public_key)
    signature = crypto.sign(keys.private_key, ledger.checkpoint_message(size, root, at, key))
    return {
        "tree_size": size,
        "root": root.hex(),
        "at": plain_value(at),
        "key": key,
        "public_key": keys.public_key.hex(),
        "signature": signature.hex(),
    }


def test_the_service_keeps_signed_checkpoints_append_only(tmp_path: Path) -> None:
    keys = crypto.KeyPair.generate()
    store = tmp_path / "witness"
    with witness_service(store) as url:
        first = signed(keys, 5)
        status, stored = call(f"{url}/checkpoints", "POST", first)
        assert status == 201 and {k: stored[k] for k in first} == first
        received = stored["received_at"]  # the service's own receive time
        assert abs(clock.now() - datetime.fromisoformat(received)) < timedelta(minutes=1)
        assert call(f"{url}/checkpoints", "POST", first) == (200, stored)  # sent again: already held
        before = (store / "witness.jsonl").read_bytes()

        forged_root = signed(keys, 5, root=crypto.sm3(b"another tree"))
        older = signed(keys, 3)
        bad_signature = {**signed(keys, 9), "signature": first["signature"]}
        extra_field = {**signed(keys, 9), "note": "x"}
        not_json = b"tree_size=9"
        refusals = [
            (call(f"{url}/checkpoints", "POST", body)[0], body)
            for body in (forged_root, older, bad_signature, extra_field, not_json, [first])
        ]
        assert [status for status, _ in refusals] == [409, 409, 422, 422, 422, 422]
        assert call(f"{url}/checkpoints", "POST", forged_root)[1]["code"] == "checkpoint_not_newer"
        assert (store / "witness.jsonl").read_bytes() == before  # refused: nothing written

        later = signed(keys, 8)
        assert call(f"{url}/checkpoints", "POST", later)[0] == 201
        status, held = call(f"{url}/checkpoints")
        assert status == 200 and held["torn"] is None
        assert [(c["tree_size"], c["root"]) for c in held["checkpoints"]] == [
            (5, first["root"]),
            (8, later["root"]),
        ]
        assert (store / "witness.jsonl").read_bytes().startswith(before)  # appended, never rewritten
    with witness_service(store) as url:  # restarted: it still holds tree size 8
        assert call(f"{url}/health")[1]["tree_size"] == 8
        assert call(f"{url}/checkpoints", "POST", signed(keys, 7))[0] == 409


def test_the_service_takes_only_the_site_keys_it_was_given(tmp_path: Path) -> None:
    site, stranger = crypto.KeyPair.generate(), crypto.KeyPair.generate()
    pem = tmp_path / "site.pem"
    pem.write_text(crypto.public_key_pem(site.public_key))
    store = tmp_path / "witness"
    with witness_service(store, pem) as url:
        status, body = call(f"{url}/checkpoints", "POST", signed(stranger, 4))
        assert status == 403 and body["code"] == "checkpoint_key_untrusted"
        assert crypto.fingerprint(stranger.public_key) in body["detail"]
        assert not (store / "witness.jsonl").exists() or not (store / "witness.jsonl").read_bytes()
        assert call(f"{url}/checkpoints", "POST", signed(site, 4))[0] == 201
        assert [c["tree_size"] for c in call(f"{url}/checkpoints")[1]["checkpoints"]] == [4]


def test_a_public_key_pem_round_trips_and_garbage_is_refused() -> None:
    keys = crypto.KeyPair.generate()
    assert crypto.public_key_from_pem(crypto.public_key_pem(keys.public_key)) == keys.public_key
    pem = crypto.public_key_pem(keys.public_key)
    for broken in ("", pem.replace("PUBLIC KEY", "PRIVATE KEY"), pem.replace(pem.splitlines()[1], "AAAA")):
        with pytest.raises(ValueError, match=r"not a PEM public key|not an SM2 public key"):
            crypto.public_key_from_pem(broken)


def witness_warnings(report: ledger.Report) -> list[str]:
    return [w.kind for w in report.warnings if w.kind.startswith("witness.")]


def remote(db: Database, url: str) -> Database:
    """The same plant, its ledger witnessed by the service at ``url``."""
    return Database.from_url(
        db.engine.url.render_as_string(hide_password=False), state_dir=db.state_dir, witness_url=url
    )


def test_checkpoints_reach_the_remote_witness_and_verify_compares(db: Database, tmp_path: Path) -> None:
    with witness_service(tmp_path / "witness") as url:
        plant = remote(db, url)
        witness = ledger.witness_of(plant)
        assert isinstance(witness, ledger.RemoteWitness) and witness.location == url
        new_material(plant, "HB-RW-001")
        ledger_jobs.checkpoint(plant)
        new_material(plant, "HB-RW-002")
        ledger_jobs.checkpoint(plant)
        with plant.sessions() as session:
            head = session.get(ledger.LedgerHead, 1)
            assert head is not None and head.checkpoint_size == head.size
        witnessed, torn = witness.read()
        assert torn is None and witnessed[-1]["tree_size"] == head.size and len(witnessed) >= 2
        assert all("received_at" in c for c in witnessed)
        report = ledger.verify(plant)
        assert report.intact and not witness_warnings(report), [
            str(p) for p in report.problems + report.warnings
        ]
        assert report.witnessed == len(witnessed) and witness.pending() == []
        plant.dispose()


def test_an_unreachable_witness_loses_nothing_and_catches_up(db: Database, tmp_path: Path) -> None:
    port, store = free_port(), tmp_path / "witness"
    with witness_service(store, port=port) as url:
        plant = remote(db, url)
        new_material(plant, "HB-RW-010")
        ledger_jobs.checkpoint(plant)
    witness = ledger.witness_of(plant)
    assert isinstance(witness, ledger.RemoteWitness)
    # The witness is down: the write commits and its checkpoint waits in the local spool.
    material = new_material(plant, "HB-RW-011")
    made = ledger_jobs.checkpoint(plant)
    assert made is not None
    with plant.sessions() as session:
        assert session.scalar(select(Material.code).where(Material.id == material.id)) == "HB-RW-011"
        signed_sizes = session.scalars(select(ledger.LedgerCheckpoint.tree_size))
        assert made["tree_size"] in set(signed_sizes)  # the database keeps it whatever the witness does
    pending = [c["tree_size"] for c in witness.pending()]  # the write may have made one (time-based) too
    assert pending[-1] == made["tree_size"] and pending == sorted(pending)
    with pytest.raises(ledger.WitnessUnavailable, match="cannot be reached"):
        witness.read()
    report = ledger.verify(plant)
    assert [p.kind for p in report.problems] == ["witness.unreachable"]  # not verified against it: not intact

    with witness_service(store, port=port):  # back, but nothing sent yet: intact, the witness behind
        report = ledger.verify(plant)
        assert report.intact, [str(p) for p in report.problems]
        assert witness_warnings(report) == ["witness.behind"]
        assert f"{len(pending)} kept pending" in report.warnings[0].detail  # (the witness's warning first)
        assert ledger_jobs.checkpoint(plant) is None  # nothing new to sign: the pending one is sent
        assert witness.pending() == []
        report = ledger.verify(plant)
        assert report.intact and not witness_warnings(report), [str(p) for p in report.problems]
        assert [c["tree_size"] for c in witness.read()[0]][-1] == made["tree_size"]
    plant.dispose()


def test_a_witness_that_does_not_answer_times_out_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    keys = crypto.KeyPair.generate()
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        witness = ledger.RemoteWitness(url, tmp_path / "pending.jsonl", timeout=0.5)
        started = time.monotonic()
        witness.append(signed(keys, 3))  # returns: the caller's transaction has committed already
        assert time.monotonic() - started < 10
        witness.append(signed(keys, 6))
    assert [c["tree_size"] for c in witness.pending()] == [3, 6]
    assert witness.flush() == 2  # the port is closed now: still pending, in order


def test_a_database_rewritten_consistently_is_caught_by_the_remote_witness(
    db: Database, tmp_path: Path
) -> None:
    with witness_service(tmp_path / "witness") as url:
        plant = remote(db, url)
        new_material(plant, "HB-RW-020")
        ledger_jobs.checkpoint(plant)
        assert ledger.verify(plant).intact
        rewrite_whole_database(plant)
        found = kinds(plant)
        assert "ledger.rewritten" in found and found <= {"ledger.rewritten", "row.changed"}
        plant.dispose()


def test_a_database_rolled_back_behind_the_remote_witness_is_caught(db: Database, tmp_path: Path) -> None:
    with witness_service(tmp_path / "witness") as url:
        plant = remote(db, url)
        new_material(plant, "HB-RW-030")
        ledger_jobs.checkpoint(plant)
        size = ledger.witness_of(plant).read()[0][-1]["tree_size"]
        with behind_the_apps_back(plant) as conn:
            drop_guards(conn, "audit_entries")
            conn.execute(text("DELETE FROM audit_entries WHERE leaf_index >= :n"), {"n": size - 2})
        assert "ledger.rolled_back" in kinds(plant)
        plant.dispose()


def test_the_commands_with_a_remote_witness(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pharmatrace.cli import app
    from pharmatrace.config import get_settings

    monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PHARMATRACE_VAR", str(db.state_dir))
    runner = CliRunner()
    try:
        get_settings.cache_clear()
        site_key = runner.invoke(app, ["ledger", "site-key"])
        assert site_key.exit_code == 0, site_key.output
        pem = tmp_path / "site.pem"
        pem.write_text(site_key.stdout)
        assert crypto.public_key_from_pem(pem.read_text()) == ledger.site_key(db.state_dir).public_key

        port = free_port()
        monkeypatch.setenv("PHARMATRACE_WITNESS_URL", f"http://127.0.0.1:{port}")
        get_settings.cache_clear()
        with witness_service(tmp_path / "witness", pem, port=port) as url:
            plant = remote(db, url)  # a checkpoint this write makes goes to the service too
            new_material(plant, "HB-RW-040")
            plant.dispose()
            made = runner.invoke(app, ["ledger", "checkpoint"])
            assert made.exit_code == 0 and "WARNING" not in made.output, made.output  # (or already made)
            verified = runner.invoke(app, ["ledger", "verify", "--json"])
            assert verified.exit_code == 0, verified.output
            report = json.loads(verified.stdout)
            assert report["intact"] and report["witnessed"] >= 1
            assert [w["kind"] for w in report["warnings"]] == ["site_key.unencrypted"]
        down = runner.invoke(app, ["ledger", "verify"])
        assert down.exit_code == 1 and "witness.unreachable" in down.output
        assert "WARNING site_key.unencrypted" in down.output
    finally:
        get_settings.cache_clear()


def test_a_refused_checkpoint_is_kept_reported_and_sent_again(db: Database, tmp_path: Path) -> None:
    """A witness that does not (yet) trust the site key refuses its checkpoints: each is set aside, verify
    warns until it is resolved, and once the witness is given the key the refused ones are sent again."""
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(crypto.public_key_pem(crypto.KeyPair.generate().public_key))
    site = tmp_path / "site.pem"
    site.write_text(crypto.public_key_pem(ledger.site_key(db.state_dir).public_key))
    port, store = free_port(), tmp_path / "witness"
    with witness_service(store, stranger, port=port) as url:
        plant = remote(db, url)
        new_material(plant, "HB-RW-050")
        ledger_jobs.checkpoint(plant)  # unless the write made one already (time-based)
        with plant.sessions() as session:
            latest = session.scalar(select(func.max(ledger.LedgerCheckpoint.tree_size)))
        witness = ledger.witness_of(plant)
        assert isinstance(witness, ledger.RemoteWitness)
        assert witness.pending() == []  # not left pending: refused for a reason
        refused = witness.refused()
        assert refused and refused[-1]["checkpoint"]["tree_size"] == latest
        assert refused[-1]["status"] == 403 and "does not trust" in refused[-1]["detail"]
        report = ledger.verify(plant)
        assert "witness.refused" in witness_warnings(report)
        assert witness.resend_refused() == (0, len(refused))  # the cause is not fixed: refused again
    with witness_service(store, site, port=port):
        assert witness.resend_refused() == (len(refused), 0)
        assert witness.refused() == [] and witness.pending() == []
        assert [c["tree_size"] for c in witness.read()[0]][-1] == latest
        report = ledger.verify(plant)
        assert "witness.refused" not in witness_warnings(report), [str(w) for w in report.warnings]
    plant.dispose()
