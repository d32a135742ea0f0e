"""The demo's completed batch (issue 7 item 9, ADR 0015): seeded under the seed clock at day −14, every step
executed through the services with its time inside the recipe's limits, a realistic mix of exceptions each
decided by the supervisor, QA's review by exception signed, its batch record rendered; the ledger's times in
order; and the seed clock's own refusals."""

from __future__ import annotations

import io
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

import pharmatrace
from helpers import principal, token
from pharmatrace.config import Settings
from pharmatrace.demo.seed import DEMO_PASSWORD, _is_new
from pharmatrace.documents import service as documents
from pharmatrace.kernel import clock, ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.mes import dispensing, execution, packaging, review
from pharmatrace.mes.execution_models import BatchOrder, Deviation
from pharmatrace.mes.history_demo import SET_UP_DAYS_AGO, seed_history
from pharmatrace.storage.engine import Database
from pharmatrace.wms.lots import add_months

SUPERVISOR, OPERATORS, FLOOR_QA, REVIEWER = "lina", {"zhangwei", "liuyang"}, "chenjing", "zhaomin"
DECIDED = {
    ("EXT-CPP1", "limit_excursion"): "no_deviation",
    ("EXT-W2", "manual_weighing"): "no_deviation",
    ("EXT-DE", "correction"): "no_deviation",
    ("LYO-CPP1", "time_limit"): "deviation",
}


def completed(db: Database) -> BatchOrder:
    with db.sessions() as session:
        order = session.scalar(select(BatchOrder).where(BatchOrder.status == "reviewed"))
        assert order is not None, "the demo has a completed, reviewed batch"
        return order


# --- the completed batch ---------------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.4.3.3", "TJ-6.4.3.3.c", "TJ-6.4.7")
def test_the_demo_has_a_completed_batch_executed_and_signed_by_the_right_people(db: Database) -> None:
    order = completed(db)
    with db.sessions() as session:
        detail = execution.order_detail(session, order)
        steps = len(execution.plan_of(execution.control_body(session, order)).steps)
        in_progress = session.scalar(select(BatchOrder).where(BatchOrder.status == "in_progress"))
    assert detail.steps_done == detail.steps_total == steps and detail.status == "reviewed"
    assert detail.created_by == detail.released_by == SUPERVISOR
    assert {s.performed_by for s in detail.steps} <= OPERATORS  # every step by zhangwei or liuyang
    assert {s.started_by for s in detail.steps} <= OPERATORS
    seconds = {s.verified_by for s in detail.steps if s.verified_by}
    assert seconds == {SUPERVISOR, FLOOR_QA}
    assert {s.step_code for s in detail.steps if s.verified_by == FLOOR_QA} == {
        "EXT-LC", "CMP-LC", "FIL-LC", "PKG-LC", "PKG-Y"
    }  # fmt: skip
    # the completed batch ran before the visitor's batch in progress was planned
    assert in_progress is not None and order.completed_at is not None
    assert order.completed_at < in_progress.created_at and order.order_no < in_progress.order_no
    # QA reviewed by exception and handed it to release; the reviewer took no part in the batch
    with db.sessions() as session:
        signed = review.get_review(session, order)
        assert signed.reviewed_by == REVIEWER and signed.exceptions_total == len(DECIDED)
        assert signed.covers_sm3 == review.review_digest(session, order)
        assert REVIEWER not in review.participants(session, order)


@pytest.mark.clause("TJ-6.4.3.3.b")
def test_each_timed_step_took_its_time_within_the_recipe_limits(db: Database) -> None:
    order = completed(db)
    with db.sessions() as session:
        plan = execution.plan_of(execution.control_body(session, order))
        detail = execution.order_detail(session, order)
    rows = {s.step_code: s for s in detail.steps}
    timed: set[str] = set()
    for code, (_unit, _operation, step) in plan.steps.items():
        row = rows[code]
        assert row.started_at is not None and row.completed_at is not None
        minutes = (row.completed_at - row.started_at) / timedelta(minutes=1)
        if step.min_minutes is not None or step.max_minutes is not None:
            timed.add(code)
            assert step.min_minutes is None or minutes >= step.min_minutes, code
            assert step.max_minutes is None or minutes <= step.max_minutes, code
    # the decoctions, ultrafiltration, filtration, filling and the three drying segments
    assert {"EXT-CPP1", "EXT-CPP2", "UF-CPP", "SF-CPP2", "FIL-CPP", "LYO-CPP1", "LYO-CPP2", "LYO-CPP3"} <= timed  # fmt: skip
    lyo = rows["LYO-CPP2"]
    assert lyo.completed_at is not None and lyo.started_at is not None
    assert lyo.completed_at - lyo.started_at >= timedelta(hours=20)  # primary drying, as the recipe says
    # the only time-limit exception is the one the story has: the freeze dryer loaded late
    limits = [e for e in detail.exceptions if e.kind == "time_limit"]
    assert [(e.step_code, str(e.params["limit"])) for e in limits] == [("LYO-CPP1", "60")]


@pytest.mark.clause("TJ-6.4.3.3.i", "TJ-6.4.4", "TJ-B.2.3.2")
def test_every_exception_is_explained_and_decided_by_the_supervisor(db: Database) -> None:
    order = completed(db)
    with db.sessions() as session:
        exceptions = execution.exceptions_of(session, order)
        signoffs = execution.signoffs_of(session, order)
        decided = {(e.step_code, e.kind): e for e in exceptions}
        assert {key: e.status for key, e in decided.items()} == DECIDED
        for e in exceptions:
            assert (
                e.decided_by == SUPERVISOR and e.decided_at is not None and len(e.decision_comment or "") > 20
            )
            assert e.decided_at >= e.raised_at
            # the decision is signed by the supervisor, covering this exception
            assert any(
                s.role == "decision" and s.exception_id == e.id and s.signed_by == SUPERVISOR
                for s in signoffs
            )
        # the excursion carries the operator's comment as its evidence
        excursion = decided[("EXT-CPP1", "limit_excursion")]
        assert "101.4" in execution.exception_text(excursion) and "蒸汽阀" in excursion.evidence
        # the hold time exceeded became a deviation, through the seam, with its immediate actions
        late = decided[("LYO-CPP1", "time_limit")]
        deviation = session.get(Deviation, late.deviation_id)
        assert deviation is not None and deviation.source == f"batch_exception:{late.id}"
        assert deviation.affected_batches == order.batch_no and "密封圈" in deviation.immediate_actions
        assert deviation.recorded_by == SUPERVISOR
        # … and the QMS carried it to closure at today's QA (pharmatrace.qms.deviation_demo)
        assert deviation.status == "closed" and deviation.closed_by not in (None, SUPERVISOR)
        # the manual weighing: reason, a photo of the display kept by its SM3, the supervisor's approval
        [manual] = dispensing.list_weighings(session, order_id=order.id, source="manual")
        assert (
            manual.step_code == "EXT-W2" and manual.scale_code == "SC-01" and manual.approved_by == SUPERVISOR
        )
        assert manual.photo_sm3 is not None and "维修" in (manual.manual_reason or "")
        photo = dispensing.photo_bytes(db, manual)
        assert photo.startswith(b"\x89PNG")
        scale_read = dispensing.list_weighings(session, order_id=order.id, source="scale")
        assert {w.scale_code for w in scale_read} == {"SC-01", "BAL-01"} and len(scale_read) == 7
        # the correction keeps both values and the reason, signed again by its performer
        [(correction, step)] = execution.corrections_of(session, order)
        assert (step, correction.field, correction.old_value, correction.new_value) == (
            "EXT-DE", "extract_volume", "1540", "1450"
        )  # fmt: skip
        assert correction.corrected_by == "zhangwei" and "液位计" in correction.reason
        assert any(s.role == "correction" and s.step_code == "EXT-DE" for s in signoffs)
        record = json.loads(execution.step_of(session, order, "EXT-DE").record)
        assert (
            record["values"]["extract_volume"]["value"] == "1450"
            and record["values"]["extract_volume"]["corrected"]
        )


@pytest.mark.clause("TJ-6.4.7", "TJ-10.1.3")
def test_the_review_shows_the_refused_scan_and_the_late_signature_as_recorded(db: Database) -> None:
    order = completed(db)
    with db.sessions() as session:
        items = review.review_items(session, order_ids=[order.id])
    recorded = {(i.kind, i.step_code) for i in items if i.status == "recorded"}
    assert ("refused_scan", "CMP-ID") in recorded  # the mannitol under test, refused on the spot
    assert ("late_signature", "LYO-CPP3") in recorded  # verified the next morning, with a comment
    late = next(i for i in items if i.kind == "late_signature")
    assert late.by == SUPERVISOR and "次日" in late.explanation
    decisions = {(i.step_code, i.kind): i.status for i in items if i.exception_id is not None}
    assert decisions == DECIDED and all(i.explanation for i in items if i.exception_id is not None)
    # with nothing left open, review_problem finds nothing but the batch reviewed already
    with db.sessions() as session:
        problem = review.review_problem(session, principal(db, "chenjing"), order)
    assert problem is not None and problem.code == "segregation_of_duties"  # QA on the floor cannot review it


@pytest.mark.clause("TJ-6.4.6", "TJ-B.2.3.4", "TJ-6.3.2.3")
def test_the_packaging_record_is_complete_against_the_approved_artwork(db: Database) -> None:
    order = completed(db)
    with db.sessions() as session:
        record = packaging.public_of(session, order.order_no)
        artwork = documents.current_effective(session, "DWG-PK-001")
        document = documents.find_document(session, "DWG-PK-001")
    assert record.missing == []
    assert document is not None and document.doc_type == "drawing" and artwork is not None
    [carton] = record.materials
    assert (carton.material_code, carton.artwork_number, carton.artwork_version) == ("SP-BOX-10", "DWG-PK-001",
                                                                                    artwork.version)  # fmt: skip
    assert len(carton.specimens) == 1 and record.line_check is not None
    assert record.line_check.performed_by != record.line_check.verified_by
    assert record.shelf_life_months == 24 and record.expiry_date == add_months(record.manufacture_date, 24)
    [printed] = record.print_checks
    assert (printed.printed_batch_no, printed.printed_expiry) == (order.batch_no, record.expiry_date)
    [inspection] = record.inspections
    defects = {"particles": 41, "glass": 2, "cracks": 11, "cosmetic": 19}
    assert all(getattr(inspection, name) == count for name, count in defects.items())
    assert inspection.good + inspection.rejected == inspection.inspected and inspection.reject_pct < 2
    [reconciled] = record.reconciliations
    assert (
        reconciled.within_limits
        and reconciled.issued == reconciled.used + reconciled.destroyed + reconciled.returned
    )
    assert record.balance is not None and record.balance.within_limits
    assert record.balance.finished + record.balance.samples + record.balance.rejects == record.bulk_quantity


@pytest.mark.clause("TJ-6.4.3.5", "TJ-B.2.3")
def test_the_batch_record_renders_as_html_and_pdf_with_its_exceptions(
    db: Database, client: TestClient
) -> None:
    order = completed(db)
    with db.sessions() as session:
        deviation = session.scalar(
            select(Deviation.number).where(Deviation.affected_batches == order.batch_no)
        )
    assert deviation is not None
    headers = token(client, REVIEWER)
    page = client.get(f"/mes/batches/{order.order_no}/record", headers=headers)
    assert page.status_code == 200 and order.batch_no in page.text and "101.4" in page.text
    assert deviation in page.text  # the deviation raised for the late loading of the freeze dryer
    response = client.get(f"/api/v1/mes/batches/{order.order_no}/record.pdf", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    flat = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(response.content)).pages)
    flat = flat.replace("\x00", "").replace("\n", " ")
    assert order.batch_no in flat
    assert "101.4" in flat  # the excursion of EXT-CPP1
    assert "1540" in flat and "1450" in flat  # the correction, old and new value


# --- time along the ledger, and the seed clock ------------------------------------------------------------


@pytest.mark.clause("SH-8.4.5", "SH-7.1.5")
def test_the_seeded_ledger_verifies_intact_with_its_times_in_order(db: Database) -> None:
    report = ledger.verify(db)
    assert report.intact, report.problems
    assert not any(p.kind == "time.non_monotonic" for p in report.problems)
    with db.sessions() as session:
        times = list(session.scalars(select(AuditEntry.at).order_by(AuditEntry.leaf_index)))
    assert all(a <= b for a, b in itertools.pairwise(times))
    # the plant was set up two weeks back, the standard roles with it; the seed ended at the real time
    assert times[-1] - times[0] > timedelta(days=SET_UP_DAYS_AGO - 1)
    assert times[-1] <= clock.now()
    order = completed(db)
    assert order.released_at is not None and times[0] < order.released_at < times[-1] - timedelta(days=7)


@pytest.mark.clause("SH-8.4.2", "SH-7.1.5")
def test_a_plant_with_an_audit_trail_is_never_dated_back(db: Database) -> None:
    with db.sessions() as session:
        before = session.scalar(select(AuditEntry.leaf_index).order_by(AuditEntry.leaf_index.desc()).limit(1))
    assert not _is_new(db)
    assert seed_history(db, DEMO_PASSWORD, None) == {"completed_batches": 0}
    start = datetime.now(UTC) - timedelta(days=1)
    with clock.seeded(start) as seed_clock:  # even under a seed clock: an order exists, nothing is added
        assert seed_history(db, DEMO_PASSWORD, seed_clock) == {"completed_batches": 0}
    with db.sessions() as session:
        after = session.scalar(select(AuditEntry.leaf_index).order_by(AuditEntry.leaf_index.desc()).limit(1))
    assert after == before


@pytest.mark.clause("SH-7.1.5", "TJ-10.1.1.2.d")
def test_the_seed_clock_never_goes_backwards_nor_past_the_real_time() -> None:
    real = clock.now()
    start = real - timedelta(days=3)
    with clock.seeded(start) as seed_clock:
        first = clock.now()
        assert start <= first < real  # the simulated time, running at the real pace
        with pytest.raises(clock.SeedClockRefused, match="never goes backwards"):
            seed_clock.advance(-timedelta(seconds=1))
        with pytest.raises(clock.SeedClockRefused, match="never goes backwards"):
            seed_clock.advance_to(first - timedelta(minutes=5))
        with pytest.raises(clock.SeedClockRefused, match="never passes the real time"):
            seed_clock.advance(timedelta(days=4))
        with pytest.raises(clock.SeedClockRefused, match="never passes the real time"):
            seed_clock.advance_to(datetime.now(UTC) + timedelta(hours=1))
        assert clock.now() - first < timedelta(minutes=1)  # the refusals moved nothing
        moved = seed_clock.advance(timedelta(days=2))
        assert moved - first >= timedelta(days=2) and clock.now() >= moved
        with pytest.raises(clock.SeedClockRefused, match="running already"), clock.seeded(start):
            pass  # no second clock inside the first
    assert clock.seed_clock() is None and clock.now() > moved  # back to the server's time, later
    with (
        pytest.raises(clock.SeedClockRefused, match="in the future"),
        clock.seeded(real + timedelta(hours=1)),
    ):
        pass
    with pytest.raises(clock.SeedClockRefused, match="time zone"), clock.seeded(datetime(2026, 1, 1)):
        pass


@pytest.mark.clause("SH-7.1.5", "TJ-10.1.1.2.d")
def test_only_the_demo_seed_enters_the_seed_clock() -> None:
    """No route, page, command, setting or other area reaches the seed clock (ADR 0015)."""
    source = Path(pharmatrace.__file__).parent
    users = sorted(
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if re.search(r"\bseeded\(", path.read_text(encoding="utf-8")) and path.name != "clock.py"
    )
    assert users == ["demo/seed.py"]
    assert not [name for name in Settings.model_fields if "seed" in name]  # no setting reaches it
