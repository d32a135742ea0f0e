"""`pharmatrace ledger verify` re-hashes every code event's items and every code's current row (ADR 0020).

The tampering is a database superuser's: the unit-of-work marker forged and the append-only guards of the items
set aside. Verify then names exactly the events whose items changed and the code whose row left its last item.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from trace_steps import codes, commissioned, pool_of
from typer.testing import CliRunner

from helpers import behind_the_apps_back, unguarded
from pharmatrace.cli import app
from pharmatrace.kernel import ledger
from pharmatrace.storage.engine import Database
from pharmatrace.trace.models import TraceEventItem

USED = ["69012340000000770001", "69012340000000770002", "69012340000000770003"]
UNUSED = ["69012340000000770101", "69012340000000770102"]


def mismatches(output: str) -> list[str]:
    """The problems of a text report, ``kind: subject: detail`` each."""
    return [line.strip().removeprefix("MISMATCH ") for line in output.splitlines() if "MISMATCH " in line]


def events_of(db: Database, value: str) -> list[int]:
    """The events of a code's items, oldest first."""
    with db.sessions() as session:
        code_id = codes(db, [value])[0].id
        return list(
            session.scalars(
                select(TraceEventItem.event_id)
                .where(TraceEventItem.code_id == code_id)
                .order_by(TraceEventItem.id)
            )
        )


@pytest.mark.both
@pytest.mark.clause("SH-8.4.5", "SH-7.1.3.c", "TJ-10.1.3.3", "SH-6.2.5")
def test_verify_names_the_events_whose_items_changed_behind_the_apps_back(
    cli: CliRunner, db: Database
) -> None:
    commissioned(db, USED)  # generated, allocated, commissioned: three events over three codes
    pool_of(db, UNUSED)  # generated: one event over two codes
    generated, allocated, _ = events_of(db, USED[0])
    unused_generated = events_of(db, UNUSED[0])[0]
    used, unused = codes(db, USED), codes(db, UNUSED)

    clean = cli.invoke(app, ["ledger", "verify", "--json"])
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.output)
    assert report["intact"] and "trace.events" in report["vouched_checks"]
    assert report["vouched_rows_checked"] >= 3 * len(USED) + len(UNUSED)

    with behind_the_apps_back(db) as conn:
        unguarded(conn, "trace_event_items")
        conn.execute(  # an item altered (not the code's last one: only its event no longer matches)
            text("UPDATE trace_event_items SET to_state = 'allocated' WHERE event_id = :e AND code_id = :c"),
            {"e": generated, "c": used[0].id},
        )
        conn.execute(  # an item deleted
            text("DELETE FROM trace_event_items WHERE event_id = :e AND code_id = :c"),
            {"e": allocated, "c": used[1].id},
        )
        conn.execute(  # an item added to an event (the code's row agrees with it: only the event is named)
            text("INSERT INTO trace_event_items (event_id, code_id, from_state, to_state) "
                 "VALUES (:e, :c, NULL, 'available')"),
            {"e": unused_generated, "c": unused[0].id},
        )  # fmt: skip
        conn.execute(  # a code moved back without an event
            text("UPDATE trace_codes SET state = 'allocated' WHERE id = :c"), {"c": used[2].id}
        )

    broken = cli.invoke(app, ["ledger", "verify"])
    assert broken.exit_code == 1, broken.output
    found = {tuple(line.split(": ")[:2]) for line in mismatches(broken.output)}
    assert found == {
        ("trace.event.items", f"trace_event:{generated}"),
        ("trace.event.items", f"trace_event:{allocated}"),
        ("trace.event.items", f"trace_event:{unused_generated}"),
        ("trace.code.current", f"trace_code:{USED[2]}"),
    }
    assert f"trace_event:{allocated}: 2 item(s) stored for the 3 the event vouches for" in broken.output


@pytest.mark.clause("SH-8.4.5")
def test_the_web_app_registers_the_checks_for_the_ledger_page(db: Database) -> None:
    from pharmatrace.web.app import create_app

    ledger.unregister_vouched("trace.events")
    ledger.unregister_vouched("monitoring.ingests")
    create_app(db)
    assert {"trace.events", "monitoring.ingests"} <= set(ledger.vouched_checks())
    assert {"trace.events", "monitoring.ingests"} <= set(ledger.verify(db).vouched_checks)
