"""How one pass of ``ledger verify`` reads the trail's stored entries (SH-8.4.5, ADR 0031)."""

from __future__ import annotations

import pytest

from pharmatrace.kernel import ledger
from pharmatrace.storage.engine import Database, mark_unit_of_work


@pytest.mark.clause("SH-8.4.5")
def test_the_latest_version_of_each_object_is_read_from_the_entry_text(db: Database) -> None:
    """Verify reads each object's latest version from the hashed text: plain and Chinese IDs at once, IDs with
    escapes field by field; a delete counts, an event without a record hash does not."""
    record = "ab" * 32
    cases = [
        ("update", "probe", "7", record),
        ("update", "probe", "批次-丹参-01", record),
        ("update", "probe", 'quo"te\\back', "cd" * 32),
        ("update", "probe 型", "8", record),
        ("delete", "probe", "9", None),
        ("login.success", "probe", "10", None),
    ]
    with db.engine.begin() as conn:
        mark_unit_of_work(conn)
        ledger.append(
            conn,
            [
                {
                    "event": event,
                    "object_type": kind,
                    "object_id": oid,
                    "actor_id": 3,
                    "actor_login": "zhouqiang",
                    "actor_name": "周强",
                    "reason": '含"引号"的理由',
                    "changes": {"a": [None, "\\"]},
                    "request_id": None,
                    "client_address": None,
                    "record_hash": rec,
                }
                for event, kind, oid, rec in cases
            ],
            db.state_dir,
        )
    with db.engine.connect() as conn:
        scan = ledger._scan(
            conn, start=0, lower=None, limit=None, previous_id=-1, checkpoint_sizes=(), block=4
        )
    assert scan.problems == []
    found = {key: value[:2] for key, value in scan.latest.items() if key[0].startswith("probe")}
    assert found == {
        ("probe", "7"): ("update", record),
        ("probe", "批次-丹参-01"): ("update", record),
        ("probe", 'quo"te\\back'): ("update", "cd" * 32),
        ("probe 型", "8"): ("update", record),
        ("probe", "9"): ("delete", None),
    }
